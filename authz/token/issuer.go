package token

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// issuer is one configured issuer and its current keys.
type issuer struct {
	*compiled
	v    *Verifier
	keys atomic.Pointer[keySet] // nil until the first successful load

	// refreshMu serialises loads and guards the conditional-load state.
	refreshMu sync.Mutex
	etag      string    // of the last JWKS URL response
	modTime   time.Time // of the JWKS file last loaded
	size      int64
	sum       [sha256.Size]byte // of the JWKS document in use

	// mu guards the unknown-kid refresh state.
	mu         sync.Mutex
	lastForced time.Time     // start of the last unknown-kid refresh
	inflight   chan struct{} // closed when the running one ends
}

func (is *issuer) log() *slog.Logger { return is.v.opts.Logger }

// refresh loads the keys again and installs them when they changed. On
// failure the current keys stay in place.
func (is *issuer) refresh(ctx context.Context) error {
	is.refreshMu.Lock()
	defer is.refreshMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, is.v.opts.FetchTimeout)
	defer cancel()
	var (
		ks      *keySet
		skipped []string
		err     error
	)
	if is.cfg.JWKSFile != "" {
		ks, skipped, err = is.loadFile()
	} else {
		ks, skipped, err = is.fetch(ctx)
	}
	if err != nil {
		cur := is.keys.Load()
		n := 0
		if cur != nil {
			n = len(cur.all)
		}
		is.log().LogAttrs(ctx, slog.LevelWarn, "token: JWKS refresh failed, keeping the current keys",
			slog.String("issuer", is.cfg.Name), slog.Int("keys", n), slog.String("error", err.Error()))
		return err
	}
	for _, s := range skipped {
		is.log().LogAttrs(ctx, slog.LevelWarn, "token: JWKS key skipped",
			slog.String("issuer", is.cfg.Name), slog.String("reason", s))
	}
	if ks != nil {
		is.keys.Store(ks)
		is.log().LogAttrs(ctx, slog.LevelInfo, "token: JWKS loaded",
			slog.String("issuer", is.cfg.Name), slog.Int("keys", len(ks.all)))
	}
	return nil
}

// loadFile reads the JWKS file when its modification time or size changed
// since the last successful load; ks is nil when it did not.
func (is *issuer) loadFile() (*keySet, []string, error) {
	f, err := os.Open(is.cfg.JWKSFile)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if is.keys.Load() != nil && st.ModTime().Equal(is.modTime) && st.Size() == is.size {
		return nil, nil, nil
	}
	data, err := readLimited(f, is.v.opts.MaxJWKSBytes)
	if err != nil {
		return nil, nil, errors.New(is.cfg.JWKSFile + ": " + err.Error())
	}
	is.modTime, is.size = st.ModTime(), st.Size()
	if is.unchanged(data) {
		return nil, nil, nil
	}
	ks, skipped, err := parseJWKS(data, is.hmac)
	if err != nil {
		is.modTime, is.size = time.Time{}, -1
		return nil, skipped, errors.New(is.cfg.JWKSFile + ": " + err.Error())
	}
	is.sum = sha256.Sum256(data)
	return ks, skipped, nil
}

// fetch GETs the JWKS URL, conditionally on the last ETag; ks is nil when the
// server answered 304 Not Modified.
func (is *issuer) fetch(ctx context.Context) (*keySet, []string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, is.cfg.JWKSURL, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if is.etag != "" && is.keys.Load() != nil {
		req.Header.Set("If-None-Match", is.etag)
	}
	resp, err := is.v.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
	}()
	switch {
	case resp.StatusCode == http.StatusNotModified && req.Header.Get("If-None-Match") != "":
		return nil, nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, nil, errors.New(is.cfg.JWKSURL + ": HTTP status " + strconv.Itoa(resp.StatusCode))
	}
	data, err := readLimited(resp.Body, is.v.opts.MaxJWKSBytes)
	if err != nil {
		return nil, nil, errors.New(is.cfg.JWKSURL + ": " + err.Error())
	}
	is.etag = ""
	if is.unchanged(data) {
		is.etag = resp.Header.Get("ETag")
		return nil, nil, nil
	}
	ks, skipped, err := parseJWKS(data, is.hmac)
	if err != nil {
		return nil, skipped, errors.New(is.cfg.JWKSURL + ": " + err.Error())
	}
	is.etag = resp.Header.Get("ETag")
	is.sum = sha256.Sum256(data)
	return ks, skipped, nil
}

// unchanged reports whether data is the document of the keys in use.
func (is *issuer) unchanged(data []byte) bool {
	return is.keys.Load() != nil && sha256.Sum256(data) == is.sum
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errors.New("JWKS larger than " + strconv.FormatInt(limit, 10) + " bytes")
	}
	return data, nil
}

// loop refreshes the keys every Refresh until the verifier closes. While no
// keys have been loaded it retries sooner, backing off from one second.
func (is *issuer) loop() {
	every := is.cfg.Refresh
	backoff := time.Second
	for {
		d := every
		if is.keys.Load() == nil {
			d = min(backoff, every)
			backoff = min(2*backoff, every)
		} else {
			backoff = time.Second
		}
		t := time.NewTimer(d)
		select {
		case <-is.v.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		_ = is.refresh(is.v.ctx)
	}
}

// refreshUnknown runs a refresh for a token whose key id is not in the
// current set, at most once per UnknownKeyRefreshInterval, and waits for it
// (or for ctx). Concurrent callers share one refresh.
func (is *issuer) refreshUnknown(ctx context.Context) {
	is.mu.Lock()
	ch := is.inflight
	if ch == nil {
		now := is.v.opts.Now()
		if d := now.Sub(is.lastForced); !is.lastForced.IsZero() && d < UnknownKeyRefreshInterval && d > -UnknownKeyRefreshInterval {
			is.mu.Unlock()
			return
		}
		ch = make(chan struct{})
		done := ch
		if !is.v.goBackground(func() {
			_ = is.refresh(is.v.ctx)
			is.mu.Lock()
			is.inflight = nil
			is.mu.Unlock()
			close(done)
		}) {
			is.mu.Unlock()
			return
		}
		is.lastForced = now
		is.inflight = ch
	}
	is.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}
