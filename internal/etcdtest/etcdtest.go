// Package etcdtest runs a throwaway etcd for tests.
//
// StartSingle launches one etcd member, StartCluster a cluster of n, on
// free loopback ports with their data in temporary directories; both wait
// until every member reports healthy and stop the processes when the test
// ends. The test is skipped only when no etcd binary exists (install the
// Debian package etcd-server, or set ETCD_BIN to the binary's path), and
// fails instead when APIGW_REQUIRE_ETCD=1 (CI); any other failure fails the
// test. Stop and Restart (one member), StopAll and RestartAll let a test
// see how its code behaves while etcd is partly or entirely down, and after
// it comes back: the data directories survive, as after a crash.
package etcdtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/testbin"
)

// startTimeout bounds the wait for a new cluster to become healthy.
const startTimeout = 30 * time.Second

// Raft timing of test members: a lost leader is replaced within about a
// second instead of etcd's default of several.
const (
	heartbeatMillis = 50
	electionMillis  = 500
)

// TLS are the PEM files of a member serving its clients over TLS.
type TLS struct {
	// CertFile and KeyFile are the member's certificate and key (valid for
	// 127.0.0.1).
	CertFile, KeyFile string
	// CAFile, when set, makes the member require client certificates
	// signed by it (--client-cert-auth).
	CAFile string
}

// Config changes how Start launches the members; the zero value is one
// member on plain HTTP.
type Config struct {
	// Members is the number of members (default 1).
	Members int
	// TLS, when set, makes the members serve clients over TLS (the peers
	// still talk plain HTTP on loopback).
	TLS *TLS
}

// Cluster is a set of etcd members owned by a test.
type Cluster struct {
	// Endpoints are the members' client URLs (http://127.0.0.1:PORT, or
	// https:// with TLS), in the order of Members.
	Endpoints []string
	// Members are the processes, in the order of Endpoints.
	Members []*Member

	t   testing.TB
	cfg Config
}

// Member is one etcd process; its ports and data directory stay the same
// across Restart.
type Member struct {
	// Name is the member's name in the cluster (m0, m1, ...).
	Name string
	// Endpoint is its client URL.
	Endpoint string

	t          testing.TB
	bin        string
	dir        string
	clientPort int
	peerPort   int
	initial    string // --initial-cluster
	tls        *TLS

	mu  sync.Mutex
	cmd *exec.Cmd
	out *bytes.Buffer
}

// Binary returns the etcd binary to use: $ETCD_BIN, else etcd on PATH, else
// the Debian location. ok is false when none exists.
func Binary() (path string, ok bool) {
	return testbin.Find("ETCD_BIN", "etcd", "/usr/bin/etcd", "/usr/local/bin/etcd")
}

// StartSingle starts one etcd member for t and stops it when t ends.
func StartSingle(t testing.TB) *Cluster {
	t.Helper()
	return Start(t, Config{Members: 1})
}

// StartCluster starts an etcd cluster of n members for t and stops it when
// t ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return Start(t, Config{Members: n})
}

// Start starts the members cfg describes, waits until each is healthy, and
// stops them when t ends. It skips t when no etcd binary exists (fails it
// with APIGW_REQUIRE_ETCD=1).
func Start(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	bin, ok := Binary()
	if !ok {
		testbin.Missing(t, "APIGW_REQUIRE_ETCD", "etcd not found: install the Debian package etcd-server (apt-get install etcd-server) or set ETCD_BIN")
	}
	if cfg.Members <= 0 {
		cfg.Members = 1
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ { // a free port may be taken meanwhile
		var c *Cluster
		if c, err = start(t, bin, cfg); err == nil {
			return c
		}
	}
	t.Fatalf("etcdtest: %v", err)
	return nil
}

func start(t testing.TB, bin string, cfg Config) (*Cluster, error) {
	c := &Cluster{t: t, cfg: cfg}
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	var initial []string
	for i := range cfg.Members {
		cp, err := testbin.FreePort()
		if err != nil {
			return nil, err
		}
		pp, err := testbin.FreePort()
		if err != nil {
			return nil, err
		}
		m := &Member{
			Name: "m" + strconv.Itoa(i), t: t, bin: bin, dir: t.TempDir(),
			clientPort: cp, peerPort: pp, tls: cfg.TLS,
		}
		m.Endpoint = fmt.Sprintf("%s://127.0.0.1:%d", scheme, cp)
		initial = append(initial, fmt.Sprintf("%s=http://127.0.0.1:%d", m.Name, pp))
		c.Members = append(c.Members, m)
		c.Endpoints = append(c.Endpoints, m.Endpoint)
	}
	for _, m := range c.Members {
		m.initial = strings.Join(initial, ",")
		if err := m.launch(); err != nil {
			c.StopAll()
			return nil, err
		}
	}
	t.Cleanup(c.StopAll)
	if err := c.waitHealthy(startTimeout); err != nil {
		c.StopAll()
		return nil, err
	}
	return c, nil
}

// launch starts the member's process (not waiting for it to be healthy).
func (m *Member) launch() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return nil
	}
	args := []string{
		"--name", m.Name,
		"--data-dir", m.dir,
		"--listen-client-urls", m.Endpoint,
		"--advertise-client-urls", m.Endpoint,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", m.peerPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", m.peerPort),
		"--initial-cluster", m.initial,
		"--initial-cluster-state", "new",
		"--initial-cluster-token", "apigw-etcdtest",
		"--heartbeat-interval", strconv.Itoa(heartbeatMillis),
		"--election-timeout", strconv.Itoa(electionMillis),
		"--logger", "zap",
		"--log-level", "error",
	}
	if m.tls != nil {
		args = append(args, "--cert-file", m.tls.CertFile, "--key-file", m.tls.KeyFile)
		if m.tls.CAFile != "" {
			args = append(args, "--client-cert-auth", "--trusted-ca-file", m.tls.CAFile)
		}
	}
	out := new(bytes.Buffer)
	cmd := exec.Command(m.bin, args...)
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &m.mu, w: out}, &lockedWriter{mu: &m.mu, w: out}
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %v", m.bin, err)
	}
	m.cmd, m.out = cmd, out
	go func() {
		_ = cmd.Wait()
		m.mu.Lock()
		if m.cmd == cmd {
			m.cmd = nil
		}
		m.mu.Unlock()
	}()
	return nil
}

// lockedWriter serialises the process's output with the member's state.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// running reports whether the member's process is alive.
func (m *Member) running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd != nil
}

// output is what the process printed (for failure messages).
func (m *Member) output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.out == nil {
		return ""
	}
	s := strings.TrimSpace(m.out.String())
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

// healthy asks the member's /health endpoint.
func (m *Member) healthy(timeout time.Duration) error {
	cl := &http.Client{Timeout: timeout}
	if m.tls != nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		pool := x509.NewCertPool()
		if pem, err := os.ReadFile(m.tls.CertFile); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
		if m.tls.CAFile != "" {
			if pem, err := os.ReadFile(m.tls.CAFile); err == nil {
				pool.AppendCertsFromPEM(pem)
			}
			cert, err := tls.LoadX509KeyPair(m.tls.CertFile, m.tls.KeyFile)
			if err != nil {
				return err
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		tc.RootCAs = pool
		cl.Transport = &http.Transport{TLSClientConfig: tc}
		defer cl.CloseIdleConnections()
	}
	resp, err := cl.Get(m.Endpoint + "/health")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"health":"true"`)) {
		return fmt.Errorf("/health: %s %s", resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// waitHealthy waits until every running member reports healthy.
func (c *Cluster) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, m := range c.Members {
		for {
			err := m.healthy(time.Second)
			if err == nil {
				break
			}
			if !m.running() {
				return fmt.Errorf("etcd member %s (%s) exited: %s", m.Name, m.Endpoint, m.output())
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("etcd member %s (%s) not healthy within %v: %v\n%s", m.Name, m.Endpoint, timeout, err, m.output())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// StoreURL is the release-store URL of the cluster's members under
// prefix: etcd://HOST:PORT,.../PREFIX (etcds:// with TLS).
func (c *Cluster) StoreURL(prefix string) string {
	scheme := "etcd://"
	if c.cfg.TLS != nil {
		scheme = "etcds://"
	}
	hosts := make([]string, 0, len(c.Endpoints))
	for _, e := range c.Endpoints {
		hosts = append(hosts, strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://"))
	}
	return scheme + strings.Join(hosts, ",") + "/" + prefix
}

// Stop kills member i (SIGKILL, as a crash would) and waits until its
// client port refuses connections. Stopping a stopped member does nothing.
func (c *Cluster) Stop(i int) { c.Members[i].Stop() }

// Restart starts member i again, with its data, and waits until the
// cluster answers through it (which needs a quorum of members running).
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	m := c.Members[i]
	if err := m.relaunch(); err != nil {
		c.t.Fatalf("etcdtest: restarting %s: %v", m.Name, err)
	}
	if err := c.waitRunningHealthy(startTimeout); err != nil {
		c.t.Fatalf("etcdtest: %v", err)
	}
}

// StopAll kills every member.
func (c *Cluster) StopAll() {
	for _, m := range c.Members {
		m.Stop()
	}
}

// RestartAll starts every stopped member again, with its data, and waits
// until all are healthy.
func (c *Cluster) RestartAll() {
	c.t.Helper()
	for _, m := range c.Members {
		if m.running() {
			continue
		}
		if err := m.relaunch(); err != nil {
			c.t.Fatalf("etcdtest: restarting %s: %v", m.Name, err)
		}
	}
	if err := c.waitRunningHealthy(startTimeout); err != nil {
		c.t.Fatalf("etcdtest: %v", err)
	}
}

// waitRunningHealthy waits until every running member is healthy.
func (c *Cluster) waitRunningHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, m := range c.Members {
		for m.running() {
			err := m.healthy(time.Second)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("etcd member %s (%s) not healthy within %v: %v\n%s", m.Name, m.Endpoint, timeout, err, m.output())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// relaunch starts the member again on the same ports; the port may linger
// briefly after a kill.
func (m *Member) relaunch() error {
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = m.launch(); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
		if m.running() {
			return nil
		}
		err = fmt.Errorf("exited at start: %s", m.output())
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Stop kills the member (SIGKILL) and waits until its client port refuses
// connections.
func (m *Member) Stop() {
	m.mu.Lock()
	cmd := m.cmd
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Kill()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(m.clientPort))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		_ = conn.Close()
		time.Sleep(10 * time.Millisecond)
	}
}
