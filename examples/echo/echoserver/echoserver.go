// Package echoserver is the HTTP handler of the echo backend used by the
// quickstart and the end-to-end tests (examples/echo): it answers every
// request with a JSON description of what it received, so a caller can see
// what the gateway forwarded — the path after rewriting, and the identity
// headers the Check service adds (X-Apig-App-Id, X-Apig-Stage, ...).
//
// Two paths behave differently (matched on the last path segments, so they
// work behind any backend path prefix, e.g. /echo/orders/slow):
//
//	.../slow?ms=N      waits N milliseconds (at most MaxSlow) before answering
//	.../status/<code>  answers with that status code (200-599)
package echoserver

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// MaxBodyEcho is how much of the request body the response repeats.
	MaxBodyEcho = 64 << 10
	// MaxBodyRead bounds how much of a request body is read (and counted);
	// a longer body gets 413.
	MaxBodyRead = 64 << 20
	// MaxSlow bounds the wait of /slow.
	MaxSlow = 30 * time.Second
)

// Response is the JSON document the handler answers with.
type Response struct {
	// Name is the backend's name (the -name flag), e.g. "release" or "beta".
	Name string `json:"name"`
	// Method is the request method.
	Method string `json:"method"`
	// Path is the request path as received (after the gateway's rewrite).
	Path string `json:"path"`
	// Query is the raw query string, without "?".
	Query string `json:"query"`
	// Headers are every request header, names lower-cased, several values
	// joined with ", ". "host" is the Host header.
	Headers map[string]string `json:"headers"`
	// Trailers are the request trailers that arrived after the body,
	// names lower-cased, several values joined with ", ".
	Trailers map[string]string `json:"trailers,omitempty"`
	// Body is the first MaxBodyEcho bytes of the request body.
	Body string `json:"body"`
	// BodySize is the length of the whole body.
	BodySize int64 `json:"body_size"`
	// BodyTruncated is true when Body is shorter than the body.
	BodyTruncated bool `json:"body_truncated,omitempty"`
	// SleptMS is the wait of /slow, in milliseconds.
	SleptMS int64 `json:"slept_ms,omitempty"`
	// Status is the status code of the response.
	Status int `json:"status"`
}

// Handler returns the echo handler; name identifies the backend in every
// response (field "name" and header X-Echo-Name).
func Handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp := Response{
			Name:    name,
			Method:  r.Method,
			Path:    r.URL.Path,
			Query:   r.URL.RawQuery,
			Headers: make(map[string]string, len(r.Header)+1),
			Status:  http.StatusOK,
		}
		for k, v := range r.Header {
			resp.Headers[strings.ToLower(k)] = strings.Join(v, ", ")
		}
		resp.Headers["host"] = r.Host

		body, size, err := readBody(w, r)
		resp.Body, resp.BodySize, resp.BodyTruncated = string(body), size, size > int64(len(body))
		for k, v := range r.Trailer { // filled once the body is read
			if len(v) == 0 {
				continue // declared in the Trailer header, never sent
			}
			if resp.Trailers == nil {
				resp.Trailers = make(map[string]string, len(r.Trailer))
			}
			resp.Trailers[strings.ToLower(k)] = strings.Join(v, ", ")
		}
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeError(w, name, http.StatusRequestEntityTooLarge, "request body over "+strconv.Itoa(MaxBodyRead)+" bytes")
			} else {
				writeError(w, name, http.StatusBadRequest, "reading the request body: "+err.Error())
			}
			return
		}

		segs := strings.Split(strings.TrimSuffix(r.URL.Path, "/"), "/")
		switch {
		case segs[len(segs)-1] == "slow":
			ms, err := strconv.ParseInt(r.URL.Query().Get("ms"), 10, 64)
			if err != nil || ms < 0 {
				writeError(w, name, http.StatusBadRequest, "/slow needs ?ms=<milliseconds>")
				return
			}
			d := min(time.Duration(ms)*time.Millisecond, MaxSlow)
			timer := time.NewTimer(d)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-r.Context().Done():
				return // the caller gave up (e.g. the gateway's timeout)
			}
			resp.SleptMS = d.Milliseconds()
		case len(segs) >= 2 && segs[len(segs)-2] == "status":
			code, err := strconv.Atoi(segs[len(segs)-1])
			if err != nil || code < 200 || code > 599 {
				writeError(w, name, http.StatusBadRequest, "/status/<code> needs a code from 200 to 599")
				return
			}
			resp.Status = code
		}
		writeJSON(w, name, resp.Status, resp)
	})
}

// readBody reads the body: the first MaxBodyEcho bytes are returned, the
// rest is counted, up to MaxBodyRead.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, int64, error) {
	if r.Body == nil {
		return nil, 0, nil
	}
	rd := http.MaxBytesReader(w, r.Body, MaxBodyRead)
	body, err := io.ReadAll(io.LimitReader(rd, MaxBodyEcho))
	size := int64(len(body))
	if err != nil {
		return body, size, err
	}
	n, err := io.Copy(io.Discard, rd)
	return body, size + n, err
}

func writeError(w http.ResponseWriter, name string, code int, msg string) {
	writeJSON(w, name, code, map[string]any{"name": name, "error": msg, "status": code})
}

func writeJSON(w http.ResponseWriter, name string, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Echo-Name", name)
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // 204 and 304 allow no body: the error is expected
}
