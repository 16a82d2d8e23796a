package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are stamped by `make build`:
//
//	go build -ldflags "-X main.version=$(git describe --always --dirty) -X main.commit=$(git rev-parse HEAD)"
//
// Unstamped, they come from the build information Go records: the module
// version (`go install ...@v1.2.3`) and the VCS revision (a build in a Git
// checkout without -buildvcs=false).
var version, commit string

// versionInfo is `apigw version -o json`. Field names are stable; empty
// fields are left out.
type versionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	Go         string `json:"go"`
	Platform   string `json:"platform"`
}

func readVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.time":
				v.CommitTime = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	return v
}

// versionString is the one-line form: "v1.2.3 (commit 0123abcd, modified, go1.26.8 linux/amd64)".
func versionString(v versionInfo) string {
	s := v.Version + " ("
	if v.Commit != "" {
		c := v.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += "commit " + c + ", "
		if v.Modified {
			s += "modified, "
		}
	}
	return s + v.Go + " " + v.Platform + ")"
}

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Long: `Print the version of apigw, the commit it was built from and the Go version
(the same as apigw --version).

Output -o json, with stable field names:
  {"version": "v1.2.3", "commit": "<full hash>", "commit_time": "RFC 3339",
   "modified": true, "go": "go1.26.8", "platform": "linux/amd64"}
commit, commit_time and modified are left out when unknown (false).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkChoice("output", output, "text", "json"); err != nil {
				return err
			}
			v := readVersion()
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "apigw", versionString(v))
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", completeChoices("text", "json"))
	return cmd
}
