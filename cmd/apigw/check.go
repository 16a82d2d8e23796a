package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/apigwio/apigw/internal/explain"
	"github.com/apigwio/apigw/xds/xdsmatch"
)

// exitDenied is `apigw check`'s exit code for a request the gateway would
// refuse (denied by Check, or not found).
const exitDenied = 3

const checkLong = `Tell what the gateway would do with one request, without Envoy: the virtual
host and route Envoy would match (computed from the same translation the
xDS server publishes, after Envoy's path normalisation), the API and
environment the route names, the authentication verdict of the real Check
service run in-process, the ACL, throttle and grant that apply, and the
request sent upstream (or the answer the gateway sends itself: mock, CORS
preflight, 404 APIG.0101).

The request comes from flags (--url, -X, -H, -d or --data-file), or from a
curl command as "apigw sign ... -o curl" prints it: --request-file FILE,
"--request-file -" for stdin, or stdin when no --url is given and stdin is
not a terminal. The client address Envoy would see is --client-ip.

Check runs with a fresh key lockout and the current time (a signature
older than the clock skew is refused, as it would be).

Output -o json (stable field names):
  {"allowed": bool, "outcome": "forwarded"|"mock"|"cors_preflight"|"denied"|"not_found",
   "status": 404,                       when the gateway answers itself
   "request": {"method", "host", "path", "raw_path"},   path normalised
   "route": {"virtual_host", "name", "index", "match", "ext_authz": "check"|"disabled",
             "context_extensions": {"apigw.api", "apigw.env"}, "rerouted"},
   "api": {"id", "group", "name", "environment", "method", "path", "match", "auth"},
   "auth": {"scheme", "allowed", "caller": {"app", "app_key", "user", "account", ...}, (none: anonymous)
            "code": "APIG.0303", "status": 401, "body": "{...}"},
   "policies": {"acls": [{"name", "type", "action", "values"}],
                "throttle": {"name", "unit", "api_limit", "user_limit", "app_limit", "ip_limit"},
                "usage_plans": [...], "grant": {"app", "granted"}, "backend_policy"},
   "response": {"status", "headers", "body"},   mock, preflight or error answer
   "upstream": {"cluster", "url", "endpoints", "host", "path", "timeout", "retries",
                "headers_added": {...}, "headers_removed": [...]},
   "notes": [...]}

Exit status: 0 the request would be allowed (forwarded, mock or CORS
preflight), 3 it would be refused (denied by Check, 404 not found), 1 the
configuration is invalid, the request unreadable, or the route cannot be
evaluated, 2 usage error.`

type checkFlags struct {
	config, method, url, data, dataFile, requestFile, clientIP, output string
	headers                                                            []string
}

func newCheckCmd() *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check --config FILE (--url URL [flags] | --request-file FILE)",
		Short: "Show what the gateway would do with a request: route, API, verdict, upstream",
		Long:  checkLong,
		Example: `  apigw check --config gateway.yaml --url http://127.0.0.1:10080/hello
  apigw check --config gateway.yaml -X POST --url http://127.0.0.1:10080/orders/1 -H 'X-Stage: BETA' -d '{"n":1}'
  apigw sign --url http://127.0.0.1:10080/hello -o curl | apigw check --config gateway.yaml
  apigw check --config gateway.yaml --request-file req.curl -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "configuration file, YAML or JSON (- for stdin) (required)")
	fl.StringVar(&f.url, "url", "", "request URL, e.g. http://127.0.0.1:10080/hello?a=1")
	fl.StringVarP(&f.method, "request", "X", "GET", "HTTP method")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, `request header "Name: value" (repeatable)`)
	fl.StringVarP(&f.data, "data", "d", "", "request body")
	fl.StringVar(&f.dataFile, "data-file", "", "read the request body from this file")
	fl.StringVar(&f.requestFile, "request-file", "", `read the request as a curl command ("apigw sign -o curl") from this file (- for stdin)`)
	fl.StringVar(&f.clientIP, "client-ip", "127.0.0.1", "the client address Envoy sees (IP ACLs, trusted IPs)")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml", "json")
	cmd.MarkFlagsMutuallyExclusive("data", "data-file")
	for _, other := range []string{"url", "request", "header", "data", "data-file"} {
		cmd.MarkFlagsMutuallyExclusive("request-file", other)
	}
	_ = cmd.RegisterFlagCompletionFunc("output", completeChoices("text", "json"))
	_ = cmd.RegisterFlagCompletionFunc("request", completeChoices("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
	return cmd
}

// isTerminal reports whether r is a terminal (nothing piped).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func runCheck(cmd *cobra.Command, f checkFlags) error {
	if err := checkChoice("output", f.output, "text", "json"); err != nil {
		return err
	}
	stdin := cmd.InOrStdin()
	if f.requestFile == "" && f.url == "" {
		if isTerminal(stdin) {
			return usagef("no request: give --url, --request-file, or pipe a curl command (apigw sign ... -o curl | apigw check ...)")
		}
		f.requestFile = "-"
	}
	if f.requestFile == "-" && f.config == "-" {
		return usagef("--config - and a request on stdin cannot both read standard input")
	}
	req, err := checkRequest(f, stdin)
	if err != nil {
		return err
	}
	snap, err := loadConfig(f.config, stdin)
	if err != nil {
		return err
	}
	ctx := context.Background()
	ex, err := explain.New(ctx, snap, explain.Options{})
	if err != nil {
		return err
	}
	defer ex.Close()
	rep, err := ex.Explain(ctx, req)
	var ue *xdsmatch.UnsupportedError
	if errors.As(err, &ue) {
		return fmt.Errorf("%v: the route Envoy would take is unknown", err)
	}
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if f.output == "json" {
		err = writeJSON(out, rep)
	} else {
		err = printReport(out, rep)
	}
	if err != nil {
		return err
	}
	if !rep.Allowed {
		return reportedError{exitDenied}
	}
	return nil
}

// checkRequest builds the request from the flags or the curl command.
func checkRequest(f checkFlags, stdin io.Reader) (explain.Request, error) {
	req := explain.Request{ClientIP: f.clientIP, Header: http.Header{}}
	if f.requestFile != "" {
		var text []byte
		var err error
		name := f.requestFile
		if name == "-" {
			name = stdinName
			text, err = io.ReadAll(io.LimitReader(stdin, explain.MaxCurlSize+1))
		} else {
			text, err = readBody(name)
		}
		if err != nil {
			return req, fmt.Errorf("reading the request from %s: %v", name, err)
		}
		cr, err := explain.ParseCurl(string(text))
		if err != nil {
			return req, fmt.Errorf("%s: %v", name, err)
		}
		f.method, f.url, f.data = cr.Method, cr.URL, string(cr.Body)
		req.Header = cr.Header
	} else {
		for _, h := range f.headers {
			name, value, ok := strings.Cut(h, ":")
			if !ok || strings.TrimSpace(name) == "" {
				return req, usagef("-H %q: write \"Name: value\"", h)
			}
			req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
		if f.dataFile != "" {
			body, err := readBody(f.dataFile)
			if err != nil {
				return req, err
			}
			f.data = string(body)
		}
	}
	u, err := url.Parse(f.url)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return req, usagef("--url %q: need http://host/path or https://host/path", f.url)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	req.Method = strings.ToUpper(f.method)
	req.URL = u
	req.Body = []byte(f.data)
	return req, nil
}

// printReport writes the report for people: one labelled section a line.
func printReport(w io.Writer, r *explain.Report) error {
	var b bytes.Buffer
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-10s%s\n", label, fmt.Sprintf(format, args...))
	}
	more := func(format string, args ...any) { fmt.Fprintf(&b, "%-10s%s\n", "", fmt.Sprintf(format, args...)) }
	req := r.Request
	path := req.Path
	if req.RawPath != "" {
		path += " (sent as " + req.RawPath + ")"
	}
	line("request", "%s %s (Host %s)", req.Method, path, req.Host)
	switch {
	case r.Route.VirtualHost == "":
		line("route", "no virtual host")
	case r.Route.Name == "":
		line("route", "virtual host %s: no route", r.Route.VirtualHost)
	default:
		line("route", "virtual host %s, route #%d %s", r.Route.VirtualHost, r.Route.Index, r.Route.Name)
		more("match: %s", r.Route.Match)
		if r.Route.Rerouted {
			more("(re-resolved after Check set an identity header a backend policy matches)")
		}
		if r.Route.ExtAuthz == "disabled" {
			more("ext_authz disabled on this route")
		}
	}
	if a := r.API; a != nil {
		line("api", "%s in %s (%s %s, %s match, auth %s)", a.ID, a.Environment, a.Method, a.Path, a.Match, a.Auth)
	}
	if a := r.Auth; a != nil {
		if a.Allowed {
			line("auth", "%s: allowed%s", a.Scheme, callerText(a.Caller))
		} else {
			line("auth", "%s: denied %d %s", a.Scheme, a.Status, a.Code)
		}
	}
	if p := r.Policies; p != nil {
		if p.Grant != nil {
			g := "not granted"
			if p.Grant.Granted {
				g = "granted"
			}
			line("grant", "app %s is %s %s in %s", p.Grant.App, g, r.API.ID, r.API.Environment)
		}
		if len(p.ACLs) == 0 {
			line("acl", "none")
		}
		for _, a := range p.ACLs {
			line("acl", "%s: %s %s %s", a.Name, a.Action, a.Type, strings.Join(a.Values, ", "))
		}
		if t := p.Throttle; t != nil {
			line("throttle", "%s: per %s api %s, user %s, app %s, ip %s", t.Name, t.Unit, limit(t.APILimit), limit(t.UserLimit), limit(t.AppLimit), limit(t.IPLimit))
		} else {
			line("throttle", "none")
		}
		if len(p.UsagePlans) > 0 {
			line("plans", "%s", strings.Join(p.UsagePlans, ", "))
		}
		if p.BackendPolicy != "" {
			line("policy", "backend policy %s", p.BackendPolicy)
		}
	}
	if u := r.Upstream; u != nil {
		line("upstream", "%s %s", req.Method, u.URL)
		more("cluster %s, Host %s, path %s", u.Cluster, u.Host, u.Path)
		if u.Timeout != "" || u.Retries > 0 {
			more("timeout %s, retries %d", orNone(u.Timeout), u.Retries)
		}
		for _, k := range slices.Sorted(maps.Keys(u.HeadersAdded)) {
			more("+ %s: %s", k, u.HeadersAdded[k])
		}
		for _, k := range u.HeadersRemoved {
			more("- %s", k)
		}
	}
	if resp := r.Response; resp != nil {
		line("response", "%d", resp.Status)
		for _, k := range slices.Sorted(maps.Keys(resp.Headers)) {
			more("%s: %s", k, resp.Headers[k])
		}
		if resp.Body != "" {
			more("%s", resp.Body)
		}
	}
	for _, n := range r.Notes {
		line("note", "%s", n)
	}
	switch r.Outcome {
	case explain.OutcomeForwarded:
		line("verdict", "ALLOWED: forwarded to the backend")
	case explain.OutcomeMock:
		line("verdict", "ALLOWED: answered by the mock backend")
	case explain.OutcomePreflight:
		line("verdict", "ALLOWED: CORS preflight answered by Envoy")
	case explain.OutcomeDenied:
		line("verdict", "DENIED %d %s", r.Status, r.Auth.Code)
	case explain.OutcomeNotFound:
		line("verdict", "NOT FOUND 404 APIG.0101")
	}
	_, err := w.Write(b.Bytes())
	return err
}

func callerText(c map[string]string) string {
	if len(c) == 0 {
		return " (anonymous)"
	}
	var parts []string
	for _, k := range []string{"app", "user", "account", "access_key", "key_pair", "project"} {
		if v, ok := c[k]; ok {
			parts = append(parts, k+" "+v)
		}
	}
	return ": " + strings.Join(parts, ", ")
}

func limit(n uint32) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
