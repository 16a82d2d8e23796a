// Command apigw is an Envoy-native API gateway control service: the Envoy
// ext_authz Check service that verifies signed requests, and the xDS server
// that turns published APIs into Envoy configuration.
//
//	apigw serve --config FILE                run the service
//	apigw validate FILE...                   check configuration files and exit
//	apigw bootstrap [flags]                  print an Envoy bootstrap for this service
//	apigw sign --url URL [flags]             sign a request for testing and debugging
//	apigw check --config FILE --url URL      what the gateway would do with a request
//	apigw import --group NAME [--into FILE] DOC  an OpenAPI/Swagger document as a group
//	apigw export --config FILE --group NAME  a group as an OpenAPI/Swagger document
//	apigw ratelimit-config --config FILE     the envoyproxy/ratelimit equivalent of the limits
//	apigw publish --config FILE --env ENV --store URL  environments as new releases in etcd
//	apigw releases [--env ENV] --store URL   the releases and the replicas serving them
//	apigw diff --env ENV A B --store URL     what changed between two releases
//	apigw rollback --env ENV --to N --store URL  an earlier release current again
//	apigw version                            print the version
//	apigw completion bash|zsh|fish|powershell  shell completion
//
// Exit codes: 0 success, 1 failure (an invalid configuration, an unreadable
// input, a service that cannot start), 2 usage error (unknown command or
// flag, bad flag value, conflicting flags, wrong arguments); `check` also
// exits 3 when the request would be refused.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/apigwio/apigw/internal/config"
)

// Exit codes, documented in the root command's help and in
// docs/configuration.md.
const (
	exitOK      = 0
	exitFailure = 1 // invalid configuration, unreadable input, failed start
	exitUsage   = 2 // the command line is wrong
)

// usageError marks an error as a misuse of the command line (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// reportedError is a failure the command already reported (validate prints
// each file's result): only its exit code is left to give.
type reportedError struct{ code int }

func (e reportedError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit code. It is the
// one place that prints errors: commands return them.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	// An error that comes back before a command's RunE started is cobra's:
	// an unknown command or flag, bad arguments, a missing required or
	// conflicting flag — a usage error.
	ran := false
	markRun(root, &ran)
	cmd, err := singleDash(root, args)
	if err == nil {
		cmd, err = root.ExecuteC()
	}
	if err == nil {
		return exitOK
	}
	var reported reportedError
	if errors.As(err, &reported) {
		return reported.code
	}
	code := exitFailure
	if !ran || errors.As(err, new(usageError)) {
		code = exitUsage
	}
	if cmd == nil {
		cmd = root
	}
	msg := describe(err)
	if code == exitUsage {
		msg = flatten(msg) + fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())
	}
	fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), msg)
	return code
}

// markRun makes every command's RunE set *ran when it starts.
func markRun(c *cobra.Command, ran *bool) {
	if f := c.RunE; f != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			*ran = true
			return f(cmd, args)
		}
	}
	for _, sub := range c.Commands() {
		markRun(sub, ran)
	}
}

// describe renders err for the terminal. A refused configuration with one
// problem (an unreadable or garbage file) fits on one line.
func describe(err error) string {
	ce, ok := err.(*config.Error)
	if !ok {
		return err.Error()
	}
	return configErrorText(ce)
}

func configErrorText(ce *config.Error) string {
	// file:line:col: path: message, as compilers print it (editors jump
	// to the line).
	at := func(p config.Problem) string {
		if p.Line > 0 {
			return ce.Source + ":" + oneLine(p.String())
		}
		return ce.Source + ": " + oneLine(p.String())
	}
	if len(ce.Problems) == 1 {
		return at(ce.Problems[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problems", ce.Source, len(ce.Problems))
	for _, p := range ce.Problems {
		b.WriteString("\n  ")
		b.WriteString(at(p))
	}
	return b.String()
}

// oneLine keeps a message on one line: control characters (from a binary
// file quoted in a parser's message) are escaped.
func oneLine(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) < 0 {
		return s
	}
	q := fmt.Sprintf("%q", s)
	return q[1 : len(q)-1]
}

// exclusiveMsg is cobra's message for MarkFlagsMutuallyExclusive.
var exclusiveMsg = regexp.MustCompile(`^if any flags in the group \[[^]]*\] are set none of the others can be; \[([^]]*)\] were all set$`)

// noArgs refuses positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q: %s takes flags only", args[0], cmd.CommandPath())
	}
	return nil
}

// flatten puts cobra's multi-line messages (unknown command with
// suggestions) on one line.
func flatten(s string) string {
	if m := exclusiveMsg.FindStringSubmatch(s); m != nil {
		return "--" + strings.Join(strings.Fields(m[1]), " and --") + " cannot be used together"
	}
	if before, after, ok := strings.Cut(s, "\n\nDid you mean this?\n"); ok {
		return before + "; did you mean " + strings.Join(strings.Fields(after), " or ") + "?"
	}
	return strings.Join(strings.Fields(s), " ")
}

const rootLong = `apigw is an Envoy-native API gateway brain: the Envoy ext_authz Check service
that verifies the signatures the official cloud SDKs produce, and the xDS
server that turns published APIs into Envoy configuration, on one gRPC port.

Exit codes:
  0  success
  1  failure: an invalid configuration, an unreadable input, a service that
     cannot start (for validate: any of the files is invalid)
  2  usage error: unknown command or flag, bad flag value, conflicting
     flags, missing or extra arguments
  3  check only: the request would be refused (denied, not found)`

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "apigw",
		Short:         "Envoy ext_authz Check service and xDS server",
		Long:          rootLong,
		Version:       versionString(readVersion()),
		SilenceErrors: true, // run prints them, once
		SilenceUsage:  true, // a usage error names --help instead of printing it all
	}
	root.SetVersionTemplate("apigw {{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(newServeCmd(), newValidateCmd(), newBootstrapCmd(), newSignCmd(), newRatelimitConfigCmd(), newCheckCmd(), newImportCmd(), newExportCmd(), newPublishCmd(), newReleasesCmd(), newDiffCmd(), newRollbackCmd(), newVersionCmd())
	return root
}

// flagError marks flag parsing errors as usage errors.
func flagError(_ *cobra.Command, err error) error { return usageError{err} }

// singleDash finds a long flag written with one dash ("-url" for "--url"):
// pflag would read it as shorthands ("-u -r -l"), or as -d with the value
// "ata-file", and fail with a confusing message or not at all.
func singleDash(root *cobra.Command, args []string) (*cobra.Command, error) {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return nil, nil
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if len(name) > 1 && cmd.Flags().Lookup(name) != nil {
			return cmd, usagef("%s: long flags take two dashes: --%s", a, a[1:])
		}
	}
	return nil, nil
}

// checkChoice returns a usage error unless value is one of choices.
func checkChoice(flag, value string, choices ...string) error {
	for _, c := range choices {
		if value == c {
			return nil
		}
	}
	return usagef("--%s %q: use %s", flag, value, strings.Join(choices, ", "))
}

// completeChoices completes a flag's value from a fixed list.
func completeChoices(choices ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return choices, cobra.ShellCompDirectiveNoFileComp
	}
}
