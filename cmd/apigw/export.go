package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/openapi"
)

const exportLong = `Write a group of a configuration as an OpenAPI 3.0 (default) or Swagger 2.0
document with the platform's x-apigateway-* extensions (backend, auth,
match mode, CORS, throttling) and apigw's x-apigw-api / x-apigw-group for
the settings the platform has no extension for, so that "apigw import" of
the document gives back an equivalent group. See docs/openapi.md.

The configuration is validated first ("apigw validate"). --env exports only
the APIs published in that environment. #{variables}# in backends are kept
as written. Warnings (what the document cannot say) go to stderr.

Exit status: 0 written, 1 the configuration is invalid or unreadable, the
group or environment is not defined, or two APIs cannot be told apart in a
document (same path and method in several environments: use --env), 2
usage error.`

func newExportCmd() *cobra.Command {
	var path string
	var opts openapi.ExportOptions
	cmd := &cobra.Command{
		Use:   "export --config FILE --group NAME [--env ENV] [--format openapi3|swagger2] [-o yaml|json]",
		Short: "Export a group as an OpenAPI or Swagger document",
		Long:  exportLong,
		Example: `  apigw export --config gateway.yaml --group demo > demo.openapi.yaml
  apigw export --config gateway.yaml --group demo --env RELEASE --format swagger2 -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkChoice("format", opts.Format, "openapi3", "swagger2"); err != nil {
				return err
			}
			if err := checkChoice("output", opts.Output, "yaml", "json"); err != nil {
				return err
			}
			if path == "-" {
				return usagef("--config -: export reads a configuration file")
			}
			if _, err := loadConfig(path, nil); err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return refused(path, fmt.Sprintf("cannot read: %v", err))
			}
			gw, err := config.Parse(data)
			if err != nil {
				return err
			}
			if opts.Env != "" {
				found := opts.Env == "RELEASE" || opts.Env == gw.GetSettings().GetDefaultEnvironment()
				for _, e := range gw.GetEnvironments() {
					found = found || e.GetName() == opts.Env
				}
				if !found {
					return fmt.Errorf("environment %q is not defined in %s", opts.Env, path)
				}
			}
			out, warns, err := openapi.Export(gw, opts)
			for _, w := range warns {
				fmt.Fprintf(cmd.ErrOrStderr(), "apigw export: warning: %s\n", oneLine(w.String()))
			}
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&path, "config", "", "configuration file, YAML or JSON (required)")
	fl.StringVar(&opts.Group, "group", "", "the group to export (required)")
	fl.StringVar(&opts.Env, "env", "", "export only the APIs published in this environment (default: all)")
	fl.StringVar(&opts.Format, "format", "openapi3", "document format: openapi3 or swagger2")
	fl.StringVarP(&opts.Output, "output", "o", "yaml", "output format: yaml or json")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("group")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml", "json")
	_ = cmd.RegisterFlagCompletionFunc("format", completeChoices("openapi3", "swagger2"))
	_ = cmd.RegisterFlagCompletionFunc("output", completeChoices("yaml", "json"))
	return cmd
}
