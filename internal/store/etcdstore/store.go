// Package etcdstore keeps releases in etcd: it implements release.Store.
//
// Keys, under the URL's prefix P (etcd://HOST:PORT/apigw: P is /apigw/):
//
//	P/releases/<env>/<number, %020d>   a release body (JSON envelope, kind
//	                                   apigw.release/v1, the metadata, the
//	                                   configuration as gzip'd protobuf
//	                                   binary and its SHA-256)
//	P/current/<env>                    the current release's number
//	P/seq/<env>                        the last number given (numbers are
//	                                   never reused, even after trimming)
//	P/replicas/<id>                    what a replica serves, under a lease
//
// A publish is one transaction comparing the current release of every
// environment involved with what the publisher read; it writes the
// release bodies, the current numbers and the counters, and deletes the
// releases beyond the bounded history, or nothing. Values that do not
// decode (corrupted, or written by something else) are logged and ignored:
// they never replace a current release.
package etcdstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/apigwio/apigw/internal/release"
)

// Defaults of Options.
const (
	DefaultHistory  = 50
	DefaultTimeout  = 5 * time.Second
	DefaultLeaseTTL = 10 * time.Second
)

// maxTxnOps is etcd's default --max-txn-ops: a transaction holds at most
// this many operations.
const maxTxnOps = 128

// ErrNotFound is returned by Get for a release that does not exist (never
// published, or trimmed from the history).
var ErrNotFound = errors.New("no such release")

// ErrCredentials is wrapped by the error of an etcd that refuses the
// credentials given, or requires some when none were.
var ErrCredentials = errors.New("etcd refused the credentials")

// Options configure Open; the zero value is a plain connection without
// authentication and the defaults above.
type Options struct {
	// CAFile verifies the members' certificates (etcds://; default: the
	// system's roots).
	CAFile string
	// CertFile and KeyFile are a client certificate (etcds:// with
	// --client-cert-auth).
	CertFile, KeyFile string
	// Username and Password authenticate to an etcd with auth enabled. The
	// password is never logged nor put in an error.
	Username, Password string
	// History is how many releases are kept per environment (default
	// DefaultHistory); older ones are deleted when a new one is published.
	History int
	// Timeout bounds every call to etcd (default DefaultTimeout), and
	// Open's connection and authentication.
	Timeout time.Duration
	// LeaseTTL is how long a replica's report outlives its last keep-alive
	// (default DefaultLeaseTTL).
	LeaseTTL time.Duration
	// Logger receives the store's logs (values ignored, watch restarts);
	// default slog.Default().
	Logger *slog.Logger
}

// Store is a release.Store in etcd. Its methods are safe for concurrent
// use.
type Store struct {
	cli       *clientv3.Client
	prefix    string
	endpoints string // for messages
	user      string
	opts      Options
	log       *slog.Logger

	ctx    context.Context // ends at Close
	cancel context.CancelFunc

	mu       sync.Mutex
	lastGood map[string]*release.Release // per environment, for values that do not decode
	lease    clientv3.LeaseID
	status   *release.ReplicaStatus // last reported
	retrying bool                   // retryReport runs
	closed   bool                   // Close ran: no goroutine starts
	wg       sync.WaitGroup
}

var _ release.Store = (*Store)(nil)

// Open connects to the etcd the URL names (see ParseURL). Without
// credentials it does not wait for etcd: calls fail with an error
// wrapping release.ErrUnavailable while it cannot be reached. With
// credentials it authenticates first, so a refused password is reported
// here (wrapping ErrCredentials).
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	t, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if (opts.Username == "") != (opts.Password == "") {
		if opts.Username == "" {
			return nil, errors.New("an etcd password was given without a user (--store-user)")
		}
		return nil, fmt.Errorf("etcd user %q given without a password (set APIGW_STORE_PASSWORD)", opts.Username)
	}
	var tc *tls.Config
	if t.TLS {
		if tc, err = tlsConfig(opts); err != nil {
			return nil, err
		}
	} else if opts.CAFile != "" || opts.CertFile != "" || opts.KeyFile != "" {
		return nil, errors.New("TLS files were given for a plain etcd:// store: use etcds://")
	}
	s := &Store{
		prefix:    t.Prefix,
		endpoints: strings.Join(t.Endpoints, ","),
		user:      opts.Username,
		opts:      opts,
		log:       opts.Logger,
		lastGood:  map[string]*release.Release{},
	}
	cfg := clientv3.Config{
		Endpoints:            t.Endpoints,
		DialTimeout:          opts.Timeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		TLS:                  tc,
		Username:             opts.Username,
		Password:             opts.Password,
		Logger:               zap.NewNop(),
		MaxCallSendMsgSize:   16 << 20,
		Context:              context.Background(),
		DialOptions: []grpc.DialOption{
			// Reconnect within a second of a member's return (gRPC's
			// default backoff grows to two minutes).
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
				MinConnectTimeout: time.Second,
			}),
		},
	}
	if ctx != nil {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < cfg.DialTimeout {
			cfg.DialTimeout = max(time.Until(dl), time.Millisecond)
		}
	}
	if cfg.Username != "" {
		// Authenticating waits for a member until the dial timeout: find
		// out first, without credentials, whether any answers at all.
		anon := cfg
		anon.Username, anon.Password = "", ""
		probe, err := clientv3.New(anon)
		if err != nil {
			return nil, s.wrap("connecting", err)
		}
		pctx, cancel := context.WithTimeout(context.Background(), cfg.DialTimeout)
		err = reachable(pctx, probe.ActiveConnection(), s.prefix)
		cancel()
		_ = probe.Close()
		if err != nil {
			return nil, s.wrap("connecting", err)
		}
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, s.wrap("authenticating", err)
	}
	s.cli = cli
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// tlsConfig builds the client TLS configuration of etcds://.
func tlsConfig(opts Options) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("store CA: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("store CA %s: no PEM certificate in it", opts.CAFile)
		}
		tc.RootCAs = pool
	}
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, errors.New("a store client certificate needs both the certificate and the key (--store-cert and --store-key)")
	}
	if opts.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("store client certificate: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Close stops reporting (revoking the replica's lease, so that it leaves
// Replicas at once) and closes the connections.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	lease := s.lease
	s.lease = 0
	s.mu.Unlock()
	if lease != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), min(s.opts.Timeout, 2*time.Second))
		_, _ = s.cli.Revoke(ctx, lease)
		cancel()
	}
	return s.cli.Close()
}

// call returns a context for one etcd call: ctx bounded by the store's
// timeout.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, s.opts.Timeout)
}

// wrap turns an etcd client error into the store's: unreachable etcd wraps
// release.ErrUnavailable, refused credentials ErrCredentials. op says what
// was being done. No message holds the password.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return fmt.Errorf("%w: etcd at %s: authentication failed for user %q (wrong user or password)", ErrCredentials, s.endpoints, s.user)
	case errors.Is(err, rpctypes.ErrUserEmpty), errors.Is(err, rpctypes.ErrInvalidAuthToken) && s.user == "":
		return fmt.Errorf("%w: etcd at %s requires authentication: give --store-user and the password in APIGW_STORE_PASSWORD", ErrCredentials, s.endpoints)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("%w: etcd at %s: user %q may not access the keys under %s (permission denied)", ErrCredentials, s.endpoints, s.user, s.prefix)
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("etcd %s: the request is larger than etcd accepts (raise its --max-request-bytes)", op)
	case errors.Is(err, context.Canceled):
		return err
	case unavailable(err):
		return fmt.Errorf("%w: etcd at %s: %s: %s", release.ErrUnavailable, s.endpoints, op, reason(err))
	}
	return fmt.Errorf("etcd %s: %w", op, err)
}

// unavailable reports whether err means etcd could not be reached or has
// no quorum.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	for _, e := range []error{rpctypes.ErrNoLeader, rpctypes.ErrNotLeader, rpctypes.ErrLeaderChanged, rpctypes.ErrStopped,
		rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail, rpctypes.ErrTimeoutDueToConnectionLost, rpctypes.ErrUnhealthy,
		rpctypes.ErrTimeoutWaitAppliedIndex} {
		if errors.Is(err, e) {
			return true
		}
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
	}
	return false
}

// reason is a short cause for an unavailable store.
func reason(err error) string {
	if st, ok := status.FromError(err); ok && st.Message() != "" && st.Code() != codes.OK {
		m := st.Message()
		if in, ok := strings.CutPrefix(m, `connection error: desc = "`); ok {
			m = strings.TrimSuffix(in, `"`)
		}
		m = strings.TrimPrefix(m, "transport: Error while dialing: ")
		return strings.TrimPrefix(m, "transport: ")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return err.Error()
}

// reachable returns at once when the connection to etcd is ready, waits
// while it is being made, and fails fast when every member is unreachable
// (the connection in transient failure): etcd's client would otherwise
// wait for a member until the call's deadline. The error then is gRPC's
// reason (connection refused, a certificate refused, ...), from one call
// that does not wait.
func (s *Store) reachable(ctx context.Context) error {
	return reachable(ctx, s.cli.ActiveConnection(), s.prefix)
}

// reachable is Store.reachable on conn; the probe reads a key under prefix.
func reachable(ctx context.Context, conn *grpc.ClientConn, prefix string) error {
	for {
		st := conn.GetState()
		switch st {
		case connectivity.Ready:
			return nil
		case connectivity.Shutdown:
			return errors.New("store closed")
		case connectivity.Idle:
			conn.Connect()
		case connectivity.TransientFailure:
			_, err := etcdserverpb.NewKVClient(conn).Range(ctx, &etcdserverpb.RangeRequest{
				Key: []byte(prefix + "reachable"), Limit: 1, CountOnly: true,
			}, grpc.WaitForReady(false))
			if err != nil && unavailable(err) {
				return err
			}
			return nil // it answered, or refused for another reason the real call will give
		}
		if !conn.WaitForStateChange(ctx, st) {
			return ctx.Err()
		}
	}
}
