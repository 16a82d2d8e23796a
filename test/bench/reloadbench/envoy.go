package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apigwio/apigw/xds"
)

// Envoy's counters of the route configuration apigw serves ("apigw", on
// the "apigw" HTTP connection manager).
const (
	rdsApplied  = "http.apigw.rds.apigw.update_success"
	rdsRejected = "http.apigw.rds.apigw.update_rejected"
)

// envoyProc is a real Envoy on apigw's bootstrap (-envoy): each change is
// also timed until Envoy has applied the new route configuration.
type envoyProc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once Envoy has exited
	admin  string        // http://127.0.0.1:PORT
	log    string
}

// startEnvoy runs bin on the bootstrap `apigw bootstrap` prints for
// xdsAddress (delta ADS; maxHeap its --max-heap-bytes, 0 the default),
// its admin on adminPort, and waits until Envoy
// has applied its first route configuration.
func startEnvoy(bin, dir, xdsAddress string, adminPort, concurrency int, maxHeap uint64, limit time.Duration) (*envoyProc, error) {
	boot, err := xds.Bootstrap(xds.BootstrapOptions{XDSAddress: xdsAddress, AdminPort: uint32(adminPort), NodeID: "reloadbench-envoy", MaxHeapBytes: maxHeap})
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(path, boot, 0o600); err != nil {
		return nil, err
	}
	e := &envoyProc{exited: make(chan struct{}), admin: fmt.Sprintf("http://127.0.0.1:%d", adminPort), log: filepath.Join(dir, "envoy.log")}
	logFile, err := os.Create(e.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	e.cmd = exec.Command(bin, "-c", path, "--concurrency", strconv.Itoa(concurrency), "--log-level", "warn",
		"--base-id", strconv.Itoa(adminPort), "--disable-hot-restart")
	e.cmd.Stdout, e.cmd.Stderr = logFile, logFile
	if err := e.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = e.cmd.Wait()
		close(e.exited)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if _, err := e.waitAbove(ctx, rdsApplied, 0); err != nil {
		e.stop()
		return nil, fmt.Errorf("envoy: no route configuration applied within %v (%w); its log: %s", limit, err, e.log)
	}
	return e, nil
}

// counter reads one of Envoy's counters from its admin interface.
func (e *envoyProc) counter(name string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.admin+"/stats?usedonly&filter=^"+strings.ReplaceAll(name, ".", `\.`)+"$", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+": "); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, nil // not used yet
}

// waitAbove polls counter name every 2 ms until it exceeds v; it returns
// when it saw that.
func (e *envoyProc) waitAbove(ctx context.Context, name string, v int64) (time.Time, error) {
	for {
		n, err := e.counter(name)
		if err == nil && n > v {
			return time.Now(), nil
		}
		select {
		case <-e.exited:
			return time.Time{}, errors.New("envoy exited")
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s stayed at %d: %w", name, v, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// stop ends Envoy.
func (e *envoyProc) stop() {
	_ = e.cmd.Process.Kill()
	<-e.exited
}
