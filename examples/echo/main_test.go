package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/apigwio/apigw/examples/echo/echoserver"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestRunServesAndShutsDownGracefully(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	var logs syncBuffer
	go func() {
		errc <- run(ctx, []string{"-listen", "127.0.0.1:0", "-name", "t"}, &logs, func(a net.Addr) { addrc <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatalf("run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("echo did not start")
	}

	// A slow request in flight when the shutdown starts still completes.
	type result struct {
		r   echoserver.Response
		err error
	}
	slow := make(chan result, 1)
	go func() {
		res, err := http.Get("http://" + addr.String() + "/slow?ms=300")
		if err != nil {
			slow <- result{err: err}
			return
		}
		defer res.Body.Close()
		var r echoserver.Response
		slow <- result{r, json.NewDecoder(res.Body).Decode(&r)}
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case res := <-slow:
		if res.err != nil || res.r.Name != "t" || res.r.SleptMS != 300 {
			t.Errorf("in-flight request: %+v", res)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request did not complete")
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after shutdown")
	}
	if _, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		t.Error("still listening after shutdown")
	}
	if s := logs.String(); !bytes.Contains([]byte(s), []byte("listening on http://")) || !bytes.Contains([]byte(s), []byte("shutting down")) {
		t.Errorf("logs: %q", s)
	}
}

func TestRunBadFlags(t *testing.T) {
	var logs syncBuffer
	if err := run(context.Background(), []string{"-listen", "not-an-address"}, &logs, nil); err == nil {
		t.Error("bad listen address accepted")
	}
	if err := run(context.Background(), []string{"extra"}, &logs, nil); err == nil {
		t.Error("extra argument accepted")
	}
}
