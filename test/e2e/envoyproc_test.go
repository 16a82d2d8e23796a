package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envoyProcess is one Envoy a test runs, stopped at the test's end.
type envoyProcess struct {
	log  string        // its log file
	done chan struct{} // closed when it exited
	err  error         // its exit status, once done is closed
}

// runEnvoy starts Envoy on the configuration file config, logging to
// logPath, and stops it at the test's end (SIGTERM, then a kill after
// 10 s).
func runEnvoy(t *testing.T, bin, config, logPath string) *envoyProcess {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cmd := newEnvoyCmd(bin, config, logFile)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	p := &envoyProcess{log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// newEnvoyCmd is the Envoy command for a configuration file, logging to log.
func newEnvoyCmd(bin, config string, log io.Writer) *exec.Cmd {
	cmd := exec.Command(bin, "-c", config, "--disable-hot-restart", "--log-level", "info", "--concurrency", "2")
	cmd.Stdout, cmd.Stderr = log, log
	return cmd
}

// exited reports whether Envoy has exited.
func (p *envoyProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// couldNotBind reports whether Envoy's log says it could not bind a port:
// the ports come from freePorts, and another test process may bind one
// before Envoy does (seen in CI: "cannot bind '127.0.0.1:N': Address
// already in use"); the caller then starts Envoy again on other ports, at
// most envoyBindAttempts times.
func (p *envoyProcess) couldNotBind() bool {
	log, _ := os.ReadFile(p.log)
	return strings.Contains(string(log), "cannot bind")
}

// envoyBindAttempts is how many times a test starts Envoy when it could
// not bind its ports (couldNotBind).
const envoyBindAttempts = 3

// waitLive waits (bounded) until Envoy's admin on adminPort says LIVE; it
// returns false when Envoy exited first. Only Envoy's own LIVE counts
// (envoyLive): the process that took the admin port first may be an HTTP
// server that answers 200 to any path, as the echo backends do.
func (p *envoyProcess) waitLive(t *testing.T, adminPort int) bool {
	t.Helper()
	client := &http.Client{Timeout: requestTimeout}
	ready := fmt.Sprintf("http://127.0.0.1:%d/ready", adminPort)
	deadline := time.Now().Add(envoyReadyTimeout)
	for {
		if p.exited() {
			return false
		}
		var last string
		if resp, err := client.Get(ready); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if envoyLive(resp.StatusCode, string(body)) {
				return true
			}
			last = fmt.Sprintf("%d %q", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("Envoy not ready after %v: GET /ready = %s", envoyReadyTimeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// envoyLive reports whether an answer to GET /ready is Envoy's admin
// saying LIVE.
func envoyLive(code int, body string) bool {
	return code == http.StatusOK && strings.TrimSpace(body) == "LIVE"
}
