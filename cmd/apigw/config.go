package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/ratelimit/throttle"
	"github.com/apigwio/apigw/xds"
)

// stdinName is how a configuration read from standard input is named in
// messages.
const stdinName = "stdin"

// loadConfig loads the configuration file at path, or standard input for
// "-". Every failure is a *config.Error naming the source.
func loadConfig(path string, stdin io.Reader) (*model.Snapshot, error) {
	if path != "-" {
		return config.LoadFile(path, config.Options{})
	}
	data, err := io.ReadAll(io.LimitReader(stdin, config.MaxFileSize+1))
	if err != nil {
		return nil, refused(stdinName, fmt.Sprintf("cannot read: %v", err))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, refused(stdinName, "empty input (nothing was piped to apigw)")
	}
	return config.Load(stdinName, data, config.Options{})
}

// checkConfigFile reports what would keep path from being read as a
// configuration file (missing, a directory, too large) without reading it.
func checkConfigFile(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return refused(path, fmt.Sprintf("cannot read: %v", err))
	case fi.IsDir():
		return refused(path, "is a directory, not a configuration file")
	case fi.Size() > config.MaxFileSize:
		return refused(path, fmt.Sprintf("file is %d bytes, larger than the %d allowed", fi.Size(), config.MaxFileSize))
	}
	return nil
}

func refused(source, msg string) *config.Error {
	return &config.Error{Source: source, Problems: []config.Problem{{Message: msg}}}
}

// validateReport is `apigw validate -o json`. Field names are stable.
type validateReport struct {
	Valid bool         `json:"valid"`
	Files []fileReport `json:"files"`
}

type fileReport struct {
	File    string        `json:"file"`
	Valid   bool          `json:"valid"`
	Version string        `json:"version,omitempty"`
	Counts  *configCounts `json:"counts,omitempty"`
	// EnvoyMemory is what serving the file costs each Envoy (valid files).
	EnvoyMemory *xds.EnvoyMemory `json:"envoy_memory,omitempty"`
	Problems    []problemReport  `json:"problems,omitempty"`
	// Warnings do not make the file invalid (config.Warnings).
	Warnings []string `json:"warnings,omitempty"`
}

type configCounts struct {
	Groups       int `json:"groups"`
	APIs         int `json:"apis"`
	Environments int `json:"environments"`
	Apps         int `json:"apps"`
	AccessKeys   int `json:"access_keys"`
}

type problemReport struct {
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

const validateLong = `Check configuration files (YAML or JSON) without running anything. Every
file is loaded and validated on its own; every problem is listed with its
field path. "-" reads a configuration from standard input.

Output (-o text, the default): one line per valid file on stdout,
"FILE: OK (version V: N groups, ...)", and the problems of each invalid
file and the warnings of each valid one on stderr.

Output -o json: one JSON document on stdout (nothing on stderr):
  {"valid": bool,                       false if any file is invalid
   "files": [{"file": "a.yaml",         as given on the command line
              "valid": bool,
              "version": "...",         valid files: the configuration version
              "counts": {"groups", "apis", "environments", "apps", "access_keys"},
              "envoy_memory": {"routes", "clusters", "bytes", "per_worker_bytes"},
                                        valid files: what serving it costs each Envoy
              "problems": [{"line": 12, "column": 7, "path": "groups[0].apis[0].path", "message": "..."}],
              "warnings": ["path: message", ...]}]}   valid files: accepted but questionable settings

Exit status: 0 when every file is valid, 1 when any is invalid or
unreadable, 2 on a usage error.`

func newValidateCmd() *cobra.Command {
	var files []string
	var output string
	cmd := &cobra.Command{
		Use:   "validate [FILE...]",
		Short: "Check configuration files and exit",
		Long:  validateLong,
		Example: `  apigw validate examples/quickstart/gateway.yaml
  apigw validate --config a.yaml --config b.yaml -o json
  generate-config | apigw validate -`,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return []string{"yaml", "yml", "json"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			paths := append(append([]string{}, files...), args...)
			if len(paths) == 0 {
				return usagef("no configuration file: give files as arguments or with --config")
			}
			if err := checkChoice("output", output, "text", "json"); err != nil {
				return err
			}
			stdin := 0
			for _, p := range paths {
				if p == "-" {
					stdin++
				}
			}
			if stdin > 1 {
				return usagef("- (standard input) can be given only once")
			}
			return validate(paths, output, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringArrayVar(&files, "config", nil, "configuration file, YAML or JSON (repeatable; - for stdin); files can also be given as arguments")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml", "json")
	_ = cmd.RegisterFlagCompletionFunc("output", completeChoices("text", "json"))
	return cmd
}

func validate(paths []string, output string, stdin io.Reader, stdout, stderr io.Writer) error {
	report := validateReport{Valid: true, Files: make([]fileReport, 0, len(paths))}
	for _, p := range paths {
		snap, err := loadConfig(p, stdin)
		var envoyMem xds.EnvoyMemory
		if err == nil {
			// What serve's xDS side would refuse, validate refuses.
			if envoyMem, err = xds.EstimateEnvoyMemory(snap, xds.Options{}); err != nil {
				err = refused(displayName(p), "refused by the xDS translator: "+err.Error())
			}
		}
		fr := fileReport{File: p, Valid: err == nil}
		if err != nil {
			report.Valid = false
			ce, ok := err.(*config.Error)
			if !ok {
				ce = refused(p, err.Error())
			}
			for _, pr := range ce.Problems {
				fr.Problems = append(fr.Problems, problemReport{Line: pr.Line, Column: pr.Column, Path: pr.Path, Message: pr.Message})
			}
			if output == "text" {
				fmt.Fprintf(stderr, "apigw validate: %s\n", configErrorText(ce))
			}
		} else {
			fr.Version = snap.Version
			fr.Counts = &configCounts{len(snap.Groups), snap.APICount(), len(snap.Environments), len(snap.Apps), len(snap.AccessKeys)}
			fr.EnvoyMemory = &envoyMem
			if output == "text" {
				fmt.Fprintf(stdout, "%s: OK (version %s: %d groups, %d APIs, %d environments, %d apps, %d access keys; Envoy: %d routes, %d clusters, about %s of heap)\n",
					displayName(p), snap.Version, fr.Counts.Groups, fr.Counts.APIs, fr.Counts.Environments, fr.Counts.Apps, fr.Counts.AccessKeys,
					envoyMem.Routes, envoyMem.Clusters, mebibytes(envoyMem.Bytes))
			}
			fr.Warnings = config.Warnings(snap)
			if w := envoyHeapWarning(envoyMem); w != "" {
				fr.Warnings = append(fr.Warnings, w)
			}
			if output == "text" {
				for _, w := range fr.Warnings {
					fmt.Fprintf(stderr, "apigw validate: %s: warning: %s\n", displayName(p), w)
				}
			}
		}
		report.Files = append(report.Files, fr)
	}
	if output == "json" {
		if err := writeJSON(stdout, report); err != nil {
			return err
		}
	}
	if !report.Valid {
		return reportedError{exitFailure}
	}
	return nil
}

// envoyHeapWarning warns when Envoy needs more heap for the configuration
// than "apigw bootstrap" gives it by default ("" otherwise).
func envoyHeapWarning(m xds.EnvoyMemory) string {
	if !m.HeapShort(xds.DefaultMaxHeapBytes) {
		return ""
	}
	return fmt.Sprintf("envoy: Envoy needs about %s of heap for these %d routes and %d clusters (one worker thread, +%s per further worker), "+
		"more than apigw bootstrap's default --max-heap-bytes (%s) allows: with it, Envoy refuses connections and answers 503; "+
		"raise --max-heap-bytes and Envoy's memory (docs/xds.md, \"Sizing Envoy for large configurations\")",
		mebibytes(m.Bytes), m.Routes, m.Clusters, mebibytes(m.PerWorkerBytes), mebibytes(xds.DefaultMaxHeapBytes))
}

// mebibytes renders n bytes in MiB (GiB from 10 GiB), rounded.
func mebibytes(n uint64) string {
	if n >= 10<<30 {
		return fmt.Sprintf("%.0f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

// displayName is how path is named in messages.
func displayName(path string) string {
	if path == "-" {
		return stdinName
	}
	return path
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newRatelimitConfigCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "ratelimit-config --config FILE",
		Short: "Print the equivalent envoyproxy/ratelimit configuration",
		Long: `Print the rate limits of a configuration as an envoyproxy/ratelimit
configuration file (domain apigw), for running that service instead of the
built-in one. "--config -" reads the configuration from standard input.`,
		Example: `  apigw ratelimit-config --config gateway.yaml > apigw.yaml`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, err := loadConfig(path, cmd.InOrStdin())
			if err != nil {
				return err
			}
			out, err := throttle.Config(snap).MarshalEnvoyRatelimitYAML()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file, YAML or JSON (- for stdin)")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml", "json")
	return cmd
}
