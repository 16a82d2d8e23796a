package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocumentedCommandLines checks every apigw command line shown in the
// README, docs/, scripts/ and examples/ against the commands' flags, so the
// documentation and --help agree (a flag renamed or spelt -url is caught).
func TestDocumentedCommandLines(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../../README.md", "../../docs/*.md", "../../scripts/*.sh", "../../examples/quickstart/*.yaml", "../../Makefile", "../../.github/workflows/*.yml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	line := regexp.MustCompile(`apigw (serve|validate|sign|check|bootstrap|ratelimit-config|publish|releases|diff|rollback|version)\b([^|>#;&()\n` + "`" + `]*)`)
	flag := regexp.MustCompile(`(?:^|\s)(--?[A-Za-z][A-Za-z0-9-]*)`)
	root := newRootCmd()
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Join continuation lines ("\" at the end).
		text := strings.ReplaceAll(string(data), "\\\n", " ")
		for _, m := range line.FindAllStringSubmatch(text, -1) {
			cmd, _, err := root.Find([]string{m[1]})
			if err != nil {
				t.Fatal(err)
			}
			// Quoted values (-H 'Name: value', -d '{"n":1}') are not flags.
			rest := regexp.MustCompile(`'[^']*'|"[^"]*"`).ReplaceAllString(m[2], "''")
			for _, fm := range flag.FindAllStringSubmatch(rest, -1) {
				name := fm[1]
				checked++
				switch {
				case strings.HasPrefix(name, "--"):
					if cmd.Flags().Lookup(strings.TrimPrefix(name, "--")) == nil && name != "--help" {
						t.Errorf("%s: apigw %s has no flag %s: %q", f, m[1], name, strings.TrimSpace(m[0]))
					}
				case len(name) == 2:
					if cmd.Flags().ShorthandLookup(name[1:]) == nil && name != "-h" {
						t.Errorf("%s: apigw %s has no shorthand %s: %q", f, m[1], name, strings.TrimSpace(m[0]))
					}
				default:
					t.Errorf("%s: %s is spelt with one dash (use -%s): %q", f, name, name, strings.TrimSpace(m[0]))
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d documented flags found: is the pattern still right?", checked)
	}
}
