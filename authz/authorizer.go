package authz

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// Custom authorizers: the Check service POSTs the request's identity to an
// HTTP endpoint and follows its answer.
//
// Request body (JSON):
//
//	{"api":"<group>/<api>","stage":"RELEASE","method":"GET","path":"/x?y=1",
//	 "headers":{"<identity header>":"<value>", ...}}
//
// Answers: 2xx allows — an optional JSON body {"context":{"k":"v"}} passes
// each entry upstream as the header X-Apig-Context-<k> (names of letters,
// digits and '-', at most 32 entries, values at most 1 KiB); 401 or 403
// denies (401 APIG.0305, the UNAUTHORIZED response type); anything else —
// another status, a timeout, a connection error — is AUTHORIZER_FAILURE
// (500 APIG.0601). A request missing one of the identity headers is refused
// with 401 APIG.0305 without a call (AUTHORIZER_IDENTITIES_FAILURE). With a
// cache_ttl, allow and deny answers are cached in a bounded LRU, keyed by a
// SHA-256 of the authorizer, the identity header values and what the
// answer's "scope" covers: by default (no or an unknown scope) the API,
// environment, method and path it was asked about; "api" widens it to any
// method and path of the API in that environment, "env" to every API of
// the environment, "authorizer" to every API using the authorizer.

const (
	maxAuthorizerBody     = 64 << 10
	maxContextEntries     = 32
	maxContextValueBytes  = 1 << 10
	authorizerCacheSize   = 10000
	contextHeaderPrefix   = "x-apig-context-"
	detailAuthorizerDeny  = "custom authorizer denied the request"
	detailIdentityMissing = "identity source not found"
)

// authorizerClient calls custom authorizers and caches their answers.
type authorizerClient struct {
	http  *http.Client
	cache *lru.Cache[[32]byte, authorizerAnswer] // safe for concurrent use
}

// authorizerAnswer is a cached decision.
type authorizerAnswer struct {
	allow   bool
	scope   cacheScope
	headers []*corev3.HeaderValueOption
	until   time.Time
}

func newAuthorizerClient() *authorizerClient {
	cache, _ := lru.New[[32]byte, authorizerAnswer](authorizerCacheSize)
	return &authorizerClient{
		http: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		}},
		cache: cache,
	}
}

// authenticateAuthorizer asks the API's custom authorizer.
func (s *Service) authenticateAuthorizer(ctx context.Context, dep *deployment, r *request) (*caller, *apigerr.Error) {
	az := dep.api.Authorizer
	identity := make(map[string]string, len(az.IdentityHeaders))
	values := make([]string, 0, len(az.IdentityHeaders))
	for _, name := range az.IdentityHeaders {
		v, ok := r.header(name)
		if !ok || v == "" {
			return nil, apigerr.WithDetail(apigerr.AuthFailed, detailIdentityMissing)
		}
		identity[name] = v
		values = append(values, v)
	}
	now := s.now()
	if az.CacheTTL > 0 {
		a, ok := s.authorizers.lookup(az, dep, r, values, now)
		if ok {
			return authorizerCaller(a)
		}
	}
	a, err := s.callAuthorizer(ctx, az, dep, r, identity)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "custom authorizer failed", slog.String("request_id", r.requestID),
			slog.String("authorizer", az.Name), slog.String("error", err.Error()))
		return nil, apigerr.WithDetail(apigerr.InternalError, "custom authorizer failure")
	}
	if az.CacheTTL > 0 {
		a.until = now.Add(az.CacheTTL)
		s.authorizers.cache.Add(cacheKey(a.scope, az, dep, r, values), a)
	}
	return authorizerCaller(a)
}

// cacheScope is how widely an authorizer's answer may be replayed (the
// "scope" field of its answer).
type cacheScope uint8

const (
	// scopeRequest (the default, and the answer to an unknown value): the
	// same API, environment, method and path.
	scopeRequest cacheScope = iota
	// scopeAPI ("api"): the same API and environment, any method and path.
	scopeAPI
	// scopeEnv ("env"): every API of the environment that uses this
	// authorizer.
	scopeEnv
	// scopeAuthorizer ("authorizer"): every API and environment that uses
	// this authorizer.
	scopeAuthorizer
)

func parseScope(s string) cacheScope {
	switch s {
	case "api":
		return scopeAPI
	case "env":
		return scopeEnv
	case "authorizer":
		return scopeAuthorizer
	}
	return scopeRequest
}

// cacheKey is the cache key of an answer of scope sc: the scope, the
// authorizer, the identity values, and what the scope covers of the
// request. Every part is length-prefixed.
func cacheKey(sc cacheScope, az *model.Authorizer, dep *deployment, r *request, values []string) [32]byte {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	h.Write([]byte{byte(sc)})
	put(az.Name)
	if sc <= scopeEnv {
		put(dep.env)
	}
	if sc <= scopeAPI {
		put(dep.api.ID)
	}
	if sc == scopeRequest {
		put(r.method)
		put(r.target)
	}
	binary.BigEndian.PutUint64(n[:], uint64(len(values)))
	h.Write(n[:])
	for _, v := range values {
		put(v)
	}
	var key [32]byte
	h.Sum(key[:0])
	return key
}

// lookup returns a cached answer that covers the request, narrowest scope
// first.
func (c *authorizerClient) lookup(az *model.Authorizer, dep *deployment, r *request, values []string, now time.Time) (authorizerAnswer, bool) {
	for sc := scopeRequest; sc <= scopeAuthorizer; sc++ {
		if a, ok := c.cache.Get(cacheKey(sc, az, dep, r, values)); ok && now.Before(a.until) {
			return a, true
		}
	}
	return authorizerAnswer{}, false
}

func authorizerCaller(a authorizerAnswer) (*caller, *apigerr.Error) {
	if !a.allow {
		return nil, apigerr.WithDetail(apigerr.AuthFailed, detailAuthorizerDeny)
	}
	return &caller{headers: a.headers, metadata: authorizerMetadata}, nil
}

var authorizerMetadata = identityMetadata(map[string]string{"auth": "authorizer"})

type authorizerRequest struct {
	API     string            `json:"api"`
	Stage   string            `json:"stage"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
}

// callAuthorizer makes one bounded call.
func (s *Service) callAuthorizer(ctx context.Context, az *model.Authorizer, dep *deployment, r *request, identity map[string]string) (authorizerAnswer, error) {
	body, err := json.Marshal(authorizerRequest{API: dep.api.ID, Stage: dep.env, Method: r.method, Path: r.target, Headers: identity})
	if err != nil {
		return authorizerAnswer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, az.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, az.URL, bytes.NewReader(body))
	if err != nil {
		return authorizerAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", r.requestID)
	resp, err := s.authorizers.http.Do(req)
	if err != nil {
		return authorizerAnswer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthorizerBody))
	if err != nil {
		return authorizerAnswer{}, err
	}
	var answer struct {
		Context map[string]string `json:"context"`
		Scope   string            `json:"scope"`
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		// A denial's body is optional and need not be JSON; a JSON body
		// may scope the denial.
		_ = json.Unmarshal(raw, &answer)
		return authorizerAnswer{allow: false, scope: parseScope(answer.Scope)}, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return authorizerAnswer{}, &statusError{resp.StatusCode}
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &answer); err != nil {
			return authorizerAnswer{}, err
		}
	}
	a := authorizerAnswer{allow: true, scope: parseScope(answer.Scope)}
	for k, v := range answer.Context {
		if len(a.headers) == maxContextEntries || len(v) > maxContextValueBytes || !contextName(k) || strings.ContainsAny(v, "\r\n\x00") {
			continue
		}
		a.headers = append(a.headers, setHeader(contextHeaderPrefix+strings.ToLower(k), v))
	}
	return a, nil
}

type statusError struct{ status int }

func (e *statusError) Error() string { return "authorizer answered HTTP " + http.StatusText(e.status) }

// contextName reports whether k can become a header name suffix.
func contextName(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
