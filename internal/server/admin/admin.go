// Package admin serves the gateway's admin HTTP endpoints:
//
//	/healthz        the process is up
//	/readyz         the configuration is loaded and the gRPC port is serving
//	/debug/config   the configuration in use, secrets and URL userinfo redacted
//	                (above SummaryAbove APIs the groups without their APIs,
//	                encoded once per configuration and then served as
//	                bytes; ?group=NAME one group whole, ?full=true
//	                everything, each rendered on every request at a cost
//	                in proportion to its size)
//	/debug/<name>   other JSON status documents (xDS nodes, reloads)
//	/debug/pprof/   Go runtime profiles, only with Options.Pprof
//	/metrics        Prometheus metrics
//	/               the list of these endpoints (JSON)
//
// Bind it to loopback or a private network: it shows configuration.
package admin

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apigwio/apigw/internal/model"
)

// Options are the admin server's data sources.
type Options struct {
	// Ready reports readiness.
	Ready func() bool
	// Snapshot returns the configuration in use.
	Snapshot func() *model.Snapshot
	// Debug maps a name to a JSON status document served at /debug/<name>.
	Debug map[string]func() any
	// Extra handlers (e.g. /metrics) by path.
	Extra map[string]http.Handler
	// Pprof serves the Go runtime profiles at /debug/pprof/. Off by
	// default: a CPU profile or trace costs the gateway while it runs.
	Pprof bool
	// Observe, when set, is told of each request answered: the route
	// pattern that served it ("" when none did) and the time in the
	// handler.
	Observe func(pattern string, d time.Duration)
	// Views, when set, is where /debug/config keeps its views of the
	// configuration, so that its owner can Prepare them after a reload
	// (nil: the handler keeps its own).
	Views *ConfigViews
}

// NewHandler returns the admin HTTP handler.
func NewHandler(o Options) http.Handler {
	mux := http.NewServeMux()
	views := o.Views
	if views == nil {
		views = &ConfigViews{}
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if o.Ready == nil || !o.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /debug/config", func(w http.ResponseWriter, r *http.Request) {
		snap := o.Snapshot()
		q := r.URL.Query()
		if name := q.Get("group"); name != "" {
			g := RenderGroup(snap, name)
			if g == nil {
				w.WriteHeader(http.StatusNotFound)
				writeJSON(w, map[string]string{"error": "no group " + strconv.Quote(name) + " in the configuration in use"})
				return
			}
			writeJSON(w, g)
			return
		}
		full, _ := strconv.ParseBool(q.Get("full"))
		if !full && snap != nil {
			if v := views.of(snap); v.summary != nil {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(v.summary)
				return
			}
		}
		writeJSON(w, Render(snap))
	})
	names := make([]string, 0, len(o.Debug))
	for name, fn := range o.Debug {
		names = append(names, name)
		mux.HandleFunc("GET /debug/"+name, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, fn()) })
	}
	endpoints := []string{"/healthz", "/readyz", "/debug/config", "/debug/pprof/"}
	endpoints = append(endpoints, prefixed(names)...)
	for pattern, h := range o.Extra {
		mux.Handle(pattern, h)
		// "GET /metrics" -> "/metrics"
		path := pattern
		if _, p, ok := strings.Cut(pattern, " "); ok {
			path = p
		}
		endpoints = append(endpoints, path)
	}
	sort.Strings(endpoints)
	// Profiles for diagnosing the running service (the admin port must stay
	// private: see the package comment).
	if o.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"endpoints": endpoints})
	})
	if o.Observe == nil {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		mux.ServeHTTP(w, r)
		o.Observe(r.Pattern, time.Since(t0))
	})
}

func prefixed(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "/debug/" + n
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
