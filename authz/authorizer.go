package authz

import (
	"bytes"
	"context"
	"crypto/sha256"
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
// cache_ttl, allow and deny answers are cached per authorizer and identity
// (a SHA-256 of the identity header values), in a bounded LRU.

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
	h := sha256.New()
	h.Write([]byte(az.Name))
	for _, name := range az.IdentityHeaders {
		v, ok := r.header(name)
		if !ok || v == "" {
			return nil, apigerr.WithDetail(apigerr.AuthFailed, detailIdentityMissing)
		}
		identity[name] = v
		h.Write([]byte{0})
		h.Write([]byte(v))
	}
	var key [32]byte
	h.Sum(key[:0])
	now := s.now()
	if az.CacheTTL > 0 {
		a, ok := s.authorizers.cache.Get(key)
		if ok && now.Before(a.until) {
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
		s.authorizers.cache.Add(key, a)
	}
	return authorizerCaller(a)
}

func authorizerCaller(a authorizerAnswer) (*caller, *apigerr.Error) {
	if !a.allow {
		return nil, apigerr.WithDetail(apigerr.AuthFailed, detailAuthorizerDeny)
	}
	return &caller{headers: a.headers, removes: removeForNone, metadata: authorizerMetadata}, nil
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
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return authorizerAnswer{allow: false}, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return authorizerAnswer{}, &statusError{resp.StatusCode}
	}
	var answer struct {
		Context map[string]string `json:"context"`
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &answer); err != nil {
			return authorizerAnswer{}, err
		}
	}
	a := authorizerAnswer{allow: true}
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
