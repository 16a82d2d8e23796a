// Package redistest runs a throwaway redis-server for tests.
//
// Start launches redis-server on a free loopback port with persistence off
// and its working directory in a temporary folder, waits until it answers
// PING, and stops it when the test ends. StartCluster does the same for a
// three-master Redis Cluster. The test is skipped only when no redis-server
// (or, for a cluster, redis-cli) binary exists (install the Debian package
// redis-server, or set REDIS_SERVER to the binary's path), and fails instead
// when APIGW_REQUIRE_REDIS=1 (CI); any other failure fails the test.
// Stop, Restart, Pause and Resume let a test see how its code behaves while
// Redis is down or hung, and after it comes back.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/testbin"
	"github.com/redis/go-redis/v9"
)

// startTimeout bounds the wait for a new server's first PONG.
const startTimeout = 10 * time.Second

// Server is a redis-server process owned by a test.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1; it stays the same across
	// Restart.
	Addr string

	t       testing.TB
	bin     string
	dir     string
	port    int
	cluster bool // started with cluster mode on
	busPort int  // the cluster bus port, when cluster

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Binary returns the redis-server binary to use: $REDIS_SERVER, else
// redis-server on PATH, else the Debian location. ok is false when none
// exists.
func Binary() (path string, ok bool) {
	return testbin.Find("REDIS_SERVER", "redis-server", "/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server")
}

// Start runs a new redis-server for t and stops it when t ends. It skips t
// when no redis-server binary exists (fails it with APIGW_REQUIRE_REDIS=1).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, ok := Binary()
	if !ok {
		missing(t, "redis-server not found: install the Debian package redis-server (or set REDIS_SERVER)")
	}
	return startServer(t, bin, false)
}

// missing skips t for a missing binary, or fails it when
// APIGW_REQUIRE_REDIS=1.
func missing(t testing.TB, msg string) {
	t.Helper()
	testbin.Missing(t, "APIGW_REQUIRE_REDIS", msg)
}

func startServer(t testing.TB, bin string, cluster bool) *Server {
	t.Helper()
	s := &Server{t: t, bin: bin, dir: t.TempDir(), cluster: cluster}
	var err error
	for attempt := 0; attempt < 3; attempt++ { // the free port may be taken meanwhile
		if s.port, err = testbin.FreePort(); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		if cluster {
			if s.busPort, err = testbin.FreePort(); err != nil {
				t.Fatalf("redistest: %v", err)
			}
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// start launches the process on s.port and waits for PONG.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	out := new(bytes.Buffer)
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--loglevel", "warning",
	}
	if s.cluster {
		args = append(args, clusterArgs(s.busPort)...)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %v", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(startTimeout)
	for {
		// The PID tells our server from another one that took the port.
		if pid, err := serverPID(s.Addr, 200*time.Millisecond); err == nil && pid == cmd.Process.Pid {
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server on port %d exited: %s", s.port, bytes.TrimSpace(out.Bytes()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on port %d did not answer PING within %v: %s", s.port, startTimeout, bytes.TrimSpace(out.Bytes()))
		}
	}
	s.cmd = cmd
	go func() { <-exited; s.exited(cmd) }()
	return nil
}

// exited forgets cmd once its process is gone (killed by a test or crashed).
func (s *Server) exited(cmd *exec.Cmd) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == cmd {
		s.cmd = nil
	}
}

// ping sends PING in the inline protocol and expects +PONG.
func ping(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// serverPID asks the server at addr for its process id (INFO server).
func serverPID(addr string, timeout time.Duration) (int, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return 0, err
	}
	if _, err := c.Write([]byte("INFO server\r\n")); err != nil {
		return 0, err
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if !strings.HasPrefix(head, "$") || err != nil || n < 0 || n > 1<<20 {
		return 0, fmt.Errorf("INFO answered %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("INFO server has no process_id")
}

// Stop kills the server (SIGKILL, as a crash would) and waits until its
// port refuses connections. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // in case it is paused
	_ = cmd.Process.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		_ = c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart starts the server again on the same address, empty (nothing is
// persisted), after stopping it if it runs. It fails the test if the server
// does not come back, so call it from the test's goroutine.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for attempt := 0; attempt < 20; attempt++ { // the port may linger briefly
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restarting redis-server on %s: %v", s.Addr, err)
}

// Pause stops the process (SIGSTOP): connections stay open but nothing is
// answered, as with a hung server or a network partition.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatalf("redistest: signal %v: redis-server on %s is not running", sig, s.Addr)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: signal %v: %v", sig, err)
	}
}

// Client returns a go-redis client for the server, closed when the test
// ends. Its context deadlines bound socket I/O (ContextTimeoutEnabled), as
// a service's per-call timeouts need.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(Options(s.Addr))
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Options returns client options for addr suited to tests of a service:
// context deadlines honoured, short dial and I/O timeouts, and no retry
// backoff longer than the tests' timeouts.
func Options(addr string) *redis.Options {
	return &redis.Options{
		Addr:                  addr,
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
		MaxRetries:            1,
		DialerRetries:         1,
		DisableIdentity:       true,
	}
}
