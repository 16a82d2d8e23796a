package main

// The release commands: publish, releases, diff, rollback (docs/deployment.md,
// "Releases and fleets").

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/release"
	"github.com/apigwio/apigw/internal/store/etcdstore"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// storePasswordEnv names the variable the store's password is read from
// (never a flag: it would show in process lists and shell history).
const storePasswordEnv = "APIGW_STORE_PASSWORD"

// storeCallTimeout bounds a release command's calls to the store.
const storeCallTimeout = 10 * time.Second

// beforePublish, when set (by tests), runs between reading the current
// releases and publishing: a racing publisher's window.
var beforePublish func()

// storeFlags are the flags every release command shares.
type storeFlags struct {
	url, ca, cert, key, user string
	history                  int
}

func (f *storeFlags) register(cmd *cobra.Command) {
	f.registerAs(cmd, "release store, etcd://HOST:PORT[,HOST:PORT...]/PREFIX or etcds:// for TLS (required)")
	_ = cmd.MarkFlagRequired("store")
}

// registerAs adds the store flags, with storeHelp as --store's help.
func (f *storeFlags) registerAs(cmd *cobra.Command, storeHelp string) {
	fl := cmd.Flags()
	fl.StringVar(&f.url, "store", "", storeHelp)
	fl.StringVar(&f.ca, "store-ca", "", "CA certificate (PEM) the etcd members' certificates are verified against (etcds://; default: the system's)")
	fl.StringVar(&f.cert, "store-cert", "", "client certificate (PEM) for etcd's --client-cert-auth (etcds://)")
	fl.StringVar(&f.key, "store-key", "", "the client certificate's key (PEM)")
	fl.StringVar(&f.user, "store-user", "", "etcd user, for an etcd with authentication on; the password is read from $"+storePasswordEnv)
	_ = cmd.MarkFlagFilename("store-ca", "pem", "crt")
	_ = cmd.MarkFlagFilename("store-cert", "pem", "crt")
	_ = cmd.MarkFlagFilename("store-key", "pem", "key")
}

// open connects to the store. Its log (values ignored) goes to stderr.
func (f *storeFlags) open(ctx context.Context, stderr io.Writer) (*etcdstore.Store, error) {
	return f.openLogged(ctx, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// openLogged connects to the store, logging to log.
func (f *storeFlags) openLogged(ctx context.Context, log *slog.Logger) (*etcdstore.Store, error) {
	if _, err := etcdstore.ParseURL(f.url); err != nil {
		return nil, usageError{fmt.Errorf("--store: %v", err)}
	}
	return etcdstore.Open(ctx, f.url, etcdstore.Options{
		CAFile: f.ca, CertFile: f.cert, KeyFile: f.key,
		Username: f.user, Password: os.Getenv(storePasswordEnv),
		History: f.history,
		Timeout: storeCallTimeout,
		Logger:  log,
	})
}

// storeCtx is the context of one release command.
func storeCtx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, 2*time.Minute)
}

// withCurrent opens the store, reads every environment's current release
// and runs fn with both, under one command's deadline; the store is closed
// after.
func withCurrent(cmd *cobra.Command, sf storeFlags, fn func(ctx context.Context, st *etcdstore.Store, cur *release.Current) error) error {
	ctx, cancel := storeCtx(cmd)
	defer cancel()
	st, err := sf.open(ctx, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	cur, err := st.Current(ctx)
	if err != nil {
		return err
	}
	return fn(ctx, st, cur)
}

// parseEnvs splits --env BETA,RELEASE.
func parseEnvs(s string) ([]string, error) {
	var envs []string
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			return nil, usagef("--env %q: give environment names separated by commas", s)
		}
		if slices.Contains(envs, e) {
			return nil, usagef("--env %q: %s is given twice", s, e)
		}
		envs = append(envs, e)
	}
	return envs, nil
}

// publisher names who publishes: user@host.
func publisher() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return name + "@" + host
}

// checkCompose refuses releases that, with the other environments' current
// releases, do not compose into one gateway (a shared object that differs).
func checkCompose(local *configv1.Gateway, cur *release.Current, rels []*release.Release) error {
	all := maps.Clone(cur.Releases)
	if all == nil {
		all = map[string]*release.Release{}
	}
	for _, r := range rels {
		all[r.Env] = r
	}
	gw, err := release.Compose(local, all)
	if err != nil {
		return fmt.Errorf("refused: with the current releases of the other environments the gateway would not compose: %v", err)
	}
	if _, err := config.Build("the composed gateway", gw, config.Options{}); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return fmt.Errorf("refused: with the current releases of the other environments the gateway would be invalid: %s", configErrorText(ce))
		}
		return fmt.Errorf("refused: with the current releases of the other environments the gateway would be invalid: %v", err)
	}
	return nil
}

// publishedLine is how a publish is reported.
func publishedLine(r *release.Release) string {
	s := fmt.Sprintf("published %s #%d", r.Env, r.Number)
	if r.RollbackOf != 0 {
		s += fmt.Sprintf(" (rollback to #%d)", r.RollbackOf)
	}
	return s
}

// publishReport is `apigw publish -o json` and `apigw rollback -o json`.
type publishReport struct {
	Env        string    `json:"env"`
	Number     uint64    `json:"number"`
	Created    time.Time `json:"created"`
	RollbackOf uint64    `json:"rollback_of,omitempty"`
}

func writePublished(w io.Writer, output string, rels []*release.Release) error {
	if output == "json" {
		out := make([]publishReport, 0, len(rels))
		for _, r := range rels {
			out = append(out, publishReport{r.Env, r.Number, r.Created, r.RollbackOf})
		}
		return writeJSON(w, out)
	}
	for _, r := range rels {
		if _, err := fmt.Fprintln(w, publishedLine(r)); err != nil {
			return err
		}
	}
	return nil
}

const publishLong = `Publish environments of a configuration file as new releases in the release
store. The whole file is validated (as apigw validate does) and each
environment's part of it (its APIs, and what they use) is validated on its
own; the releases must compose with the current releases of the other
environments (an object they share, a group or an app, must be the same).
Then, in one transaction, each environment given gets a new release that is
current at once, provided no environment's current release changed since
it was read: a publisher racing another gets a conflict and writes nothing.
Every apigw serve --store replica applies it.

Output: "published ENV #N" per environment (-o json: [{"env", "number",
"created"}]).

Exit status: 0 published, 1 refused (invalid configuration, unknown
environment, conflict, store unreachable or refusing the credentials),
2 usage error.`

func newPublishCmd() *cobra.Command {
	var sf storeFlags
	var path, envList, note, output string
	cmd := &cobra.Command{
		Use:   "publish --config FILE --env ENV[,ENV...] --store URL",
		Short: "Publish environments of a configuration as new releases",
		Long:  publishLong,
		Example: `  apigw publish --config gateway.yaml --env BETA --note "v2 of getUser" --store etcd://127.0.0.1:2379/apigw
  APIGW_STORE_PASSWORD=... apigw publish --config gateway.yaml --env BETA,RELEASE --store etcds://etcd1:2379,etcd2:2379/apigw --store-ca ca.pem --store-user apigw`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkChoice("output", output, "text", "json"); err != nil {
				return err
			}
			envs, err := parseEnvs(envList)
			if err != nil {
				return err
			}
			return runPublish(cmd, sf, path, envs, note, output)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&path, "config", "", "configuration file, YAML or JSON (- for stdin) (required)")
	fl.StringVar(&envList, "env", "", "environments to publish, comma-separated (required)")
	fl.StringVar(&note, "note", "", "the publisher's note, shown by apigw releases")
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	fl.IntVar(&sf.history, "history", etcdstore.DefaultHistory, "releases kept per environment; older ones are deleted by this publish")
	sf.register(cmd)
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("env")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml", "json")
	_ = cmd.RegisterFlagCompletionFunc("output", completeChoices("text", "json"))
	return cmd
}

func runPublish(cmd *cobra.Command, sf storeFlags, path string, envs []string, note, output string) error {
	if sf.history <= 0 {
		return usagef("--history %d: keep at least 1 release", sf.history)
	}
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), config.MaxFileSize+1))
	} else {
		if err := checkConfigFile(path); err != nil {
			return err
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return refused(displayName(path), fmt.Sprintf("cannot read: %v", err))
	}
	// One parser: the second parse takes every group from the first.
	var parser config.Parser
	snap, err := parser.Load(displayName(path), data, config.Options{})
	if err != nil {
		return err
	}
	gw, err := parser.Parse(data)
	if err != nil {
		return err
	}
	var defined []string
	for _, e := range snap.Environments {
		defined = append(defined, e.Name)
	}
	sum := sha256.Sum256(data)
	pub := publisher()
	var rels []*release.Release
	for _, env := range envs {
		if !slices.Contains(defined, env) {
			return fmt.Errorf("unknown environment %s: %s defines %s", env, displayName(path), strings.Join(defined, ", "))
		}
		part, err := release.Restrict(gw, env)
		if err != nil {
			return fmt.Errorf("environment %s: %v", env, err)
		}
		rels = append(rels, &release.Release{
			Env: env, Note: note, Publisher: pub, SourceDigest: hex.EncodeToString(sum[:]), Config: part,
		})
	}
	return withCurrent(cmd, sf, func(ctx context.Context, st *etcdstore.Store, cur *release.Current) error {
		if err := checkCompose(gw, cur, rels); err != nil {
			return err
		}
		if beforePublish != nil {
			beforePublish()
		}
		out, err := st.Publish(ctx, rels, cur.Numbers())
		if err != nil {
			return err
		}
		return writePublished(cmd.OutOrStdout(), output, out)
	})
}

const rollbackLong = `Make an earlier release of an environment current again. The rollback is
itself a new release (history is never rewritten) with the configuration
of release N, and is published as apigw publish does: it must compose with
the other environments' current releases, and it is refused with a
conflict if any environment's current release changed while it ran.

Exit status: 0 published, 1 refused (unknown environment, no such release,
conflict, store unreachable or refusing the credentials), 2 usage error.`

func newRollbackCmd() *cobra.Command {
	var sf storeFlags
	var env, note, output string
	var to uint64
	cmd := &cobra.Command{
		Use:     "rollback --env ENV --to N --store URL",
		Short:   "Make an earlier release of an environment current again",
		Long:    rollbackLong,
		Example: `  apigw rollback --env BETA --to 3 --note "getUser v2 breaks the app" --store etcd://127.0.0.1:2379/apigw`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkChoice("output", output, "text", "json"); err != nil {
				return err
			}
			if to == 0 {
				return usagef("--to 0: releases are numbered from 1")
			}
			return runRollback(cmd, sf, env, to, note, output)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&env, "env", "", "the environment (required)")
	fl.Uint64Var(&to, "to", 0, "the release whose configuration becomes current again (required)")
	fl.StringVar(&note, "note", "", `the publisher's note (default "rollback to #N")`)
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	fl.IntVar(&sf.history, "history", etcdstore.DefaultHistory, "releases kept per environment; older ones are deleted by this rollback")
	sf.register(cmd)
	_ = cmd.MarkFlagRequired("env")
	_ = cmd.MarkFlagRequired("to")
	_ = cmd.RegisterFlagCompletionFunc("output", completeChoices("text", "json"))
	return cmd
}

func runRollback(cmd *cobra.Command, sf storeFlags, env string, to uint64, note, output string) error {
	if sf.history <= 0 {
		return usagef("--history %d: keep at least 1 release", sf.history)
	}
	return withCurrent(cmd, sf, func(ctx context.Context, st *etcdstore.Store, cur *release.Current) error {
		target, err := getRelease(ctx, st, cur, env, to)
		if err != nil {
			return err
		}
		if c := cur.Releases[env]; c != nil && c.Number == to {
			return fmt.Errorf("%s #%d is already the current release", env, to)
		}
		if note == "" {
			note = fmt.Sprintf("rollback to #%d", to)
		}
		r := &release.Release{
			Env: env, Note: note, Publisher: publisher(), SourceDigest: target.SourceDigest,
			RollbackOf: to, Config: target.Config,
		}
		if err := checkCompose(target.Config, cur, []*release.Release{r}); err != nil {
			return err
		}
		out, err := st.Publish(ctx, []*release.Release{r}, cur.Numbers())
		if err != nil {
			return err
		}
		return writePublished(cmd.OutOrStdout(), output, out)
	})
}

// getRelease reads release n of env, with one clear line when the
// environment or the release does not exist.
func getRelease(ctx context.Context, st *etcdstore.Store, cur *release.Current, env string, n uint64) (*release.Release, error) {
	r, err := st.Get(ctx, env, n)
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, etcdstore.ErrNotFound) {
		return nil, err
	}
	list, lerr := st.List(ctx, env)
	if lerr != nil {
		return nil, lerr
	}
	if len(list) == 0 && cur.Releases[env] == nil {
		return nil, unknownEnv(ctx, st, cur, env)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s has no release #%d", env, n)
	}
	return nil, fmt.Errorf("%s has no release #%d (the store keeps #%d to #%d)", env, n, list[0].Number, list[len(list)-1].Number)
}

// unknownEnv is the error for an environment the store has no release of.
func unknownEnv(ctx context.Context, st *etcdstore.Store, cur *release.Current, env string) error {
	known := slices.Sorted(maps.Keys(cur.Releases))
	if all, err := st.List(ctx, ""); err == nil {
		for _, r := range all {
			if !slices.Contains(known, r.Env) {
				known = append(known, r.Env)
			}
		}
	}
	if len(known) == 0 {
		return fmt.Errorf("unknown environment %s: the store has no releases yet", env)
	}
	slices.Sort(known)
	return fmt.Errorf("unknown environment %s: the store has releases of %s", env, strings.Join(known, ", "))
}

const releasesLong = `List the releases in the release store, oldest first per environment, as far
as the bounded history keeps them: number, when, who published it, the
note, and which is current (*). Then the replicas that report to the store
(apigw serve --store) and the release of each environment they serve.

Output -o json (stable field names):
  {"releases": [{"env", "number", "created", "publisher", "note", "source_digest",
                 "rollback_of", "current": bool, "replicas": N}],
   "replicas": [{"id", "serving": {"ENV": N}, "updated", "last_error"}]}

Exit status: 0 listed, 1 unknown environment, store unreachable or refusing
the credentials, 2 usage error.`

type releaseRow struct {
	Env          string    `json:"env"`
	Number       uint64    `json:"number"`
	Created      time.Time `json:"created"`
	Publisher    string    `json:"publisher,omitempty"`
	Note         string    `json:"note,omitempty"`
	SourceDigest string    `json:"source_digest"`
	RollbackOf   uint64    `json:"rollback_of,omitempty"`
	Current      bool      `json:"current"`
	Replicas     int       `json:"replicas"`
}

type releasesReport struct {
	Releases []releaseRow            `json:"releases"`
	Replicas []release.ReplicaStatus `json:"replicas"`
}

func newReleasesCmd() *cobra.Command {
	var sf storeFlags
	var env, output string
	cmd := &cobra.Command{
		Use:   "releases [--env ENV] --store URL",
		Short: "List the releases of every environment, and the replicas serving them",
		Long:  releasesLong,
		Example: `  apigw releases --store etcd://127.0.0.1:2379/apigw
  apigw releases --env BETA --store etcd://127.0.0.1:2379/apigw -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkChoice("output", output, "text", "json"); err != nil {
				return err
			}
			return runReleases(cmd, sf, env, output)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&env, "env", "", "only this environment")
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	sf.register(cmd)
	_ = cmd.RegisterFlagCompletionFunc("output", completeChoices("text", "json"))
	return cmd
}

func runReleases(cmd *cobra.Command, sf storeFlags, env, output string) error {
	return withCurrent(cmd, sf, func(ctx context.Context, st *etcdstore.Store, cur *release.Current) error {
		list, err := st.List(ctx, env)
		if err != nil {
			return err
		}
		if env != "" && len(list) == 0 && cur.Releases[env] == nil {
			return unknownEnv(ctx, st, cur, env)
		}
		reps, err := st.Replicas(ctx)
		if err != nil {
			return err
		}
		rep := releasesReport{Releases: []releaseRow{}, Replicas: []release.ReplicaStatus{}}
		for _, r := range list {
			row := releaseRow{
				Env: r.Env, Number: r.Number, Created: r.Created, Publisher: r.Publisher, Note: r.Note,
				SourceDigest: r.SourceDigest, RollbackOf: r.RollbackOf,
				Current: cur.Releases[r.Env] != nil && cur.Releases[r.Env].Number == r.Number,
			}
			for _, p := range reps {
				if p.Serving[r.Env] == r.Number {
					row.Replicas++
				}
			}
			rep.Releases = append(rep.Releases, row)
		}
		for _, p := range reps {
			if env == "" || p.Serving[env] != 0 {
				rep.Replicas = append(rep.Replicas, p)
			}
		}
		w := cmd.OutOrStdout()
		if output == "json" {
			return writeJSON(w, rep)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ENV\tRELEASE\tCURRENT\tCREATED\tPUBLISHER\tREPLICAS\tNOTE")
		for _, r := range rep.Releases {
			mark := ""
			if r.Current {
				mark = "*"
			}
			note := r.Note
			if r.RollbackOf != 0 && !strings.Contains(note, fmt.Sprintf("#%d", r.RollbackOf)) {
				note = strings.TrimSpace(fmt.Sprintf("(rollback to #%d) %s", r.RollbackOf, note))
			}
			fmt.Fprintf(tw, "%s\t#%d\t%s\t%s\t%s\t%d\t%s\n", r.Env, r.Number, mark, r.Created.Local().Format(time.DateTime), oneLine(r.Publisher), r.Replicas, oneLine(note))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		if len(rep.Replicas) == 0 {
			_, err := fmt.Fprintln(w, "no replica reports to this store")
			return err
		}
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REPLICA\tSERVING\tREPORTED\tLAST ERROR")
		for _, p := range rep.Replicas {
			var serving []string
			for _, e := range slices.Sorted(maps.Keys(p.Serving)) {
				serving = append(serving, fmt.Sprintf("%s #%d", e, p.Serving[e]))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", oneLine(p.ID), strings.Join(serving, ", "), p.Updated.Local().Format(time.DateTime), oneLine(p.LastError))
		}
		return tw.Flush()
	})
}

const diffLong = `Show what changed in an environment from release A to release B, in the
configuration's vocabulary: objects added (+), removed (-) and changed (~),
such as "api shop/getUser" or "app web". "current" names the current
release.

Output -o json: [{"kind": "added"|"removed"|"changed", "object", "detail"}].

Exit status: 0 (with or without differences), 1 unknown environment, no
such release, store unreachable or refusing the credentials, 2 usage error.`

func newDiffCmd() *cobra.Command {
	var sf storeFlags
	var env, output string
	cmd := &cobra.Command{
		Use:     "diff --env ENV A B --store URL",
		Short:   "Show what changed between two releases of an environment",
		Long:    diffLong,
		Example: `  apigw diff --env BETA 4 5 --store etcd://127.0.0.1:2379/apigw`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usagef("give two releases, A and B (numbers, or current): %s", cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkChoice("output", output, "text", "json"); err != nil {
				return err
			}
			return runDiff(cmd, sf, env, args, output)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&env, "env", "", "the environment (required)")
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	sf.register(cmd)
	_ = cmd.MarkFlagRequired("env")
	_ = cmd.RegisterFlagCompletionFunc("output", completeChoices("text", "json"))
	return cmd
}

type changeReport struct {
	Kind   string `json:"kind"`
	Object string `json:"object"`
	Detail string `json:"detail,omitempty"`
}

func runDiff(cmd *cobra.Command, sf storeFlags, env string, args []string, output string) error {
	var nums [2]uint64
	for i, a := range args {
		if a == "current" {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimPrefix(a, "#"), 10, 64)
		if err != nil || n == 0 {
			return usagef("%q is not a release number (1, 2, ... or current)", a)
		}
		nums[i] = n
	}
	return withCurrent(cmd, sf, func(ctx context.Context, st *etcdstore.Store, cur *release.Current) error {
		var rels [2]*release.Release
		for i, n := range nums {
			if n == 0 {
				if rels[i] = cur.Releases[env]; rels[i] == nil {
					return unknownEnv(ctx, st, cur, env)
				}
				continue
			}
			r, err := getRelease(ctx, st, cur, env, n)
			if err != nil {
				return err
			}
			rels[i] = r
		}
		changes := release.Diff(rels[0].Config, rels[1].Config)
		w := cmd.OutOrStdout()
		if output == "json" {
			out := make([]changeReport, 0, len(changes))
			for _, c := range changes {
				out = append(out, changeReport{c.Kind, c.Object, c.Detail})
			}
			return writeJSON(w, out)
		}
		if len(changes) == 0 {
			_, err := fmt.Fprintf(w, "%s #%d and #%d serve the same configuration\n", env, rels[0].Number, rels[1].Number)
			return err
		}
		for _, c := range changes {
			mark := map[string]string{"added": "+", "removed": "-", "changed": "~"}[c.Kind]
			if mark == "" {
				mark = "?"
			}
			line := mark + " " + c.Object
			if c.Detail != "" {
				line += ": " + c.Detail
			}
			if _, err := fmt.Fprintln(w, oneLine(line)); err != nil {
				return err
			}
		}
		return nil
	})
}
