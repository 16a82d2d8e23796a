package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/openapi"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

const importLong = `Turn an OpenAPI 3.0/3.1 or Swagger 2.0 document (YAML or JSON; "-" for
stdin) into a group of the gateway configuration: one API per path and
method, operationId as the API name, the platform's x-apigateway-*
extensions for backends, auth, match mode, CORS and throttling. The
mapping, its looseness (a path template /orders/{id} becomes the prefix
/orders/) and the extensions supported are in docs/openapi.md.

Without --into, the group (and the throttle policies the document
defines) is printed as YAML. With --into FILE, it is merged into FILE:
everything else of the file is kept, a group of the same name is refused
unless --replace, and the merged configuration must pass the validation
of "apigw validate" before FILE is written (atomically); nothing is
written on failure. --dry-run prints the change as a unified diff instead.

Warnings (what was imported loosely or ignored, unknown x-apigateway-*
extensions) go to stderr, each with its JSON pointer into the document.

Output -o json: one document on stdout:
  {"ok": bool, "group": "NAME", "apis": N, "file": "FILE", "written": bool,
   "diff": "...",                 --dry-run with --into
   "config": "...",               without --into: the YAML
   "warnings": [{"pointer": "#/paths/~1orders/get", "line": 12, "message": "..."}],
   "errors":   [{"pointer", "line", "message"}]}

Exit status: 0 imported (or shown), 1 the document or the merged
configuration is refused or a file cannot be read or written, 2 usage error.`

type importReport struct {
	OK       bool              `json:"ok"`
	Group    string            `json:"group"`
	APIs     int               `json:"apis"`
	File     string            `json:"file,omitempty"`
	Written  bool              `json:"written"`
	Diff     string            `json:"diff,omitempty"`
	Config   string            `json:"config,omitempty"`
	Warnings []openapi.Problem `json:"warnings"`
	Errors   []openapi.Problem `json:"errors,omitempty"`
}

func newImportCmd() *cobra.Command {
	var opts openapi.Options
	var into, output string
	var replace, dryRun bool
	cmd := &cobra.Command{
		Use:   "import --group NAME [--into gateway.yaml] [--replace] [--dry-run] DOCUMENT",
		Short: "Import an OpenAPI or Swagger document as a group of APIs",
		Long:  importLong,
		Example: `  apigw import --group petstore petstore.yaml
  apigw import --group petstore --into gateway.yaml --dry-run petstore.yaml
  apigw import --group petstore --into gateway.yaml --backend https://petstore.internal openapi.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("give exactly one document (a file, or - for stdin); got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkChoice("output", output, "text", "json"); err != nil {
				return err
			}
			if dryRun && into == "" {
				return usagef("--dry-run needs --into (without --into nothing is written anyway)")
			}
			if replace && into == "" {
				return usagef("--replace needs --into")
			}
			if into == "-" {
				return usagef("--into - is not possible: the file is read and written")
			}
			return runImport(cmd, args[0], into, opts, replace, dryRun, output)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Group, "group", "", "name of the group to make (required)")
	fl.StringVar(&into, "into", "", "configuration file to merge the group into (default: print the group)")
	fl.BoolVar(&replace, "replace", false, "replace a group (and throttle policies) of the same name in --into")
	fl.BoolVar(&dryRun, "dry-run", false, "print the change to --into as a unified diff; write nothing")
	fl.StringVar(&opts.Backend, "backend", "", "backend base URL for operations without x-apigateway-backend (instead of the document's servers)")
	fl.StringArrayVar(&opts.Domains, "domain", nil, "a domain of the group (repeatable; default *, which only one group can have)")
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	_ = cmd.MarkFlagRequired("group")
	_ = cmd.MarkFlagFilename("into", "yaml", "yml", "json")
	_ = cmd.RegisterFlagCompletionFunc("output", completeChoices("text", "json"))
	return cmd
}

func runImport(cmd *cobra.Command, docPath, into string, opts openapi.Options, replace, dryRun bool, output string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	rep := importReport{Group: opts.Group, File: into, Warnings: []openapi.Problem{}}
	fail := func(ps []openapi.Problem) error {
		if output == "json" {
			rep.Errors = ps
			_ = writeJSON(stdout, rep)
			return reportedError{exitFailure}
		}
		return &openapi.Error{Problems: ps}
	}
	failMsg := func(format string, args ...any) error {
		return fail([]openapi.Problem{{Message: fmt.Sprintf(format, args...)}})
	}
	data, err := readDocument(docPath, cmd.InOrStdin())
	if err != nil {
		return failMsg("%v", err)
	}
	doc, err := openapi.Parse(data)
	if err == nil {
		var res *openapi.Result
		if res, err = openapi.Import(doc, opts); err == nil {
			return importResult(res, into, replace, dryRun, output, &rep, stdout, stderr, fail)
		}
	}
	var oe *openapi.Error
	if errors.As(err, &oe) {
		return fail(oe.Problems)
	}
	return failMsg("%v", err)
}

func importResult(res *openapi.Result, into string, replace, dryRun bool, output string, rep *importReport, stdout, stderr io.Writer, fail func([]openapi.Problem) error) error {
	rep.Warnings = append(rep.Warnings, res.Warnings...)
	rep.APIs = len(res.Group.GetApis())
	if output == "text" {
		for _, w := range res.Warnings {
			fmt.Fprintf(stderr, "apigw import: warning: %s\n", oneLine(w.String()))
		}
	}
	var text []byte
	var err error
	if into == "" {
		// The fragment, as a configuration of its own.
		gw := &configv1.Gateway{Groups: []*configv1.Group{res.Group}, ThrottlePolicies: res.Policies}
		if text, err = openapi.Merge(nil, &openapi.Result{Group: gw.Groups[0], Policies: gw.ThrottlePolicies}, false); err != nil {
			return fail([]openapi.Problem{{Message: err.Error()}})
		}
		rep.OK = true
		if output == "json" {
			rep.Config = string(text)
			return writeJSON(stdout, rep)
		}
		_, err = stdout.Write(text)
		return err
	}
	if err := checkConfigFile(into); err != nil {
		return err
	}
	old, err := os.ReadFile(into)
	if err != nil {
		return fail([]openapi.Problem{{Message: fmt.Sprintf("%s: cannot read: %v", into, err)}})
	}
	if text, err = openapi.Merge(old, res, replace); err != nil {
		return fail([]openapi.Problem{{Message: fmt.Sprintf("%s: %v", into, err)}})
	}
	// The same validation as apigw validate, before anything is written.
	if _, err := config.Load(into, text, config.Options{}); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			var ps []openapi.Problem
			for _, p := range ce.Problems {
				ps = append(ps, openapi.Problem{Message: fmt.Sprintf("the merged configuration is refused (nothing written): %s", p.String())})
			}
			return fail(ps)
		}
		return fail([]openapi.Problem{{Message: err.Error()}})
	}
	rep.OK = true
	if dryRun {
		diff := openapi.UnifiedDiff(into, into+" (imported)", old, text)
		if output == "json" {
			rep.Diff = diff
			return writeJSON(stdout, rep)
		}
		_, err := io.WriteString(stdout, diff)
		return err
	}
	if err := writeAtomic(into, text); err != nil {
		return fail([]openapi.Problem{{Message: fmt.Sprintf("%s: cannot write: %v", into, err)}})
	}
	rep.Written = true
	if output == "json" {
		return writeJSON(stdout, rep)
	}
	fmt.Fprintf(stdout, "%s: group %s imported (%d APIs, %d warnings)\n", into, res.Group.GetName(), rep.APIs, len(res.Warnings))
	return nil
}

// readDocument reads a document file or stdin ("-"), refusing what is over
// openapi.MaxDocumentSize before reading it whole.
func readDocument(path string, stdin io.Reader) ([]byte, error) {
	limit := int64(openapi.MaxDocumentSize)
	if path == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, limit+1))
		if err != nil {
			return nil, fmt.Errorf("stdin: cannot read: %v", err)
		}
		if int64(len(data)) > limit {
			return nil, fmt.Errorf("stdin: document larger than the %d bytes (10 MiB) allowed", limit)
		}
		return data, nil
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: cannot read: %v", path, err)
	case fi.IsDir():
		return nil, fmt.Errorf("%s: is a directory, not a document", path)
	case fi.Size() > limit:
		return nil, fmt.Errorf("%s: document is %d bytes, larger than the %d (10 MiB) allowed", path, fi.Size(), limit)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read: %v", path, err)
	}
	return data, nil
}

// writeAtomic replaces path by data through a temporary file in the same
// directory (a watching gateway never reads half a file), keeping its mode.
func writeAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".import-*")
	if err != nil {
		return err
	}
	// After a successful rename the temporary name no longer exists: the
	// removal only cleans up after a failure.
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
