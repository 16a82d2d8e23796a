package echoserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func call(t *testing.T, h http.Handler, method, target, body string, hdr map[string]string) (*http.Response, Response) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Add(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	var r Response
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatalf("%s %s: response is not JSON: %v", method, target, err)
	}
	return res, r
}

func TestEcho(t *testing.T) {
	h := Handler("beta")
	res, r := call(t, h, "POST", "http://gw.example.com/echo/hello?a=1&b=two", `{"x":1}`,
		map[string]string{"X-Apig-App-Id": "demo-app", "X-Multi": "a"})
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" || res.Header.Get("X-Echo-Name") != "beta" {
		t.Fatalf("status %d headers %v", res.StatusCode, res.Header)
	}
	if r.Name != "beta" || r.Method != "POST" || r.Path != "/echo/hello" || r.Query != "a=1&b=two" ||
		r.Body != `{"x":1}` || r.BodySize != 7 || r.BodyTruncated || r.Status != 200 {
		t.Errorf("response %+v", r)
	}
	if r.Headers["x-apig-app-id"] != "demo-app" || r.Headers["host"] != "gw.example.com" || r.Headers["x-multi"] != "a" {
		t.Errorf("headers %v", r.Headers)
	}
}

func TestEchoMultiValueHeader(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	rec := httptest.NewRecorder()
	Handler("x").ServeHTTP(rec, req)
	var r Response
	if err := json.NewDecoder(rec.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Headers["x-multi"] != "a, b" {
		t.Errorf("x-multi = %q", r.Headers["x-multi"])
	}
}

func TestEchoBodyTruncated(t *testing.T) {
	body := strings.Repeat("x", MaxBodyEcho+10)
	_, r := call(t, Handler("e"), "PUT", "/up", body, nil)
	if len(r.Body) != MaxBodyEcho || r.BodySize != int64(len(body)) || !r.BodyTruncated {
		t.Errorf("body %d bytes, size %d, truncated %v", len(r.Body), r.BodySize, r.BodyTruncated)
	}
}

func TestStatus(t *testing.T) {
	for _, tt := range []struct {
		path string
		code int
	}{
		{"/status/503", 503},
		{"/echo/orders/status/418", 418},
		{"/status/201/", 201},
		{"/status/99", 400},
		{"/status/abc", 400},
		{"/status/600", 400},
		{"/statuses/503", 200},
	} {
		res, r := call(t, Handler("e"), "GET", tt.path, "", nil)
		if res.StatusCode != tt.code || r.Status != tt.code {
			t.Errorf("%s: status %d (body %d), want %d", tt.path, res.StatusCode, r.Status, tt.code)
		}
	}
}

func TestSlow(t *testing.T) {
	start := time.Now()
	res, r := call(t, Handler("e"), "GET", "/echo/slow?ms=120", "", nil)
	if res.StatusCode != 200 || r.SleptMS != 120 || time.Since(start) < 120*time.Millisecond {
		t.Errorf("status %d slept %d after %v", res.StatusCode, r.SleptMS, time.Since(start))
	}
	for _, q := range []string{"", "?ms=x", "?ms=-1"} {
		if res, _ := call(t, Handler("e"), "GET", "/slow"+q, "", nil); res.StatusCode != 400 {
			t.Errorf("/slow%s: status %d, want 400", q, res.StatusCode)
		}
	}
}

func TestSlowBoundedAndCancelled(t *testing.T) {
	// A huge wait is clamped to MaxSlow, and the request's context ends it.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest("GET", "/slow?ms=999999999", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	start := time.Now()
	Handler("e").ServeHTTP(rec, req)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled /slow returned after %v", d)
	}
}

func TestOverHTTP(t *testing.T) {
	srv := httptest.NewServer(Handler("release"))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/x?y=1", nil)
	req.Header.Set("X-Apig-Stage", "RELEASE")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if r.Name != "release" || r.Headers["x-apig-stage"] != "RELEASE" || r.Headers["host"] != strings.TrimPrefix(srv.URL, "http://") {
		t.Errorf("%+v", r)
	}
}

func TestEchoTrailers(t *testing.T) {
	srv := httptest.NewServer(Handler("release"))
	defer srv.Close()
	tests := []struct {
		name     string
		trailers http.Header // declared and sent
		declared []string    // declared only
		want     map[string]string
	}{
		{name: "none", want: nil},
		{name: "sent", trailers: http.Header{"X-Checksum": {"abc"}, "X-Apig-App-Id": {"a", "b"}},
			want: map[string]string{"x-checksum": "abc", "x-apig-app-id": "a, b"}},
		{name: "declared, never sent", declared: []string{"X-Late"}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			req, _ := http.NewRequest("POST", srv.URL+"/t", pr)
			req.Trailer = http.Header{}
			for k := range tc.trailers {
				req.Trailer[k] = nil
			}
			for _, k := range tc.declared {
				req.Trailer[k] = nil
			}
			go func() {
				_, _ = pw.Write([]byte("body"))
				for k, v := range tc.trailers {
					req.Trailer[k] = v // read by the transport after the body's EOF
				}
				pw.Close()
			}()
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var r Response
			if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
				t.Fatal(err)
			}
			if r.Body != "body" || len(r.Trailers) != len(tc.want) {
				t.Fatalf("body %q trailers %v, want %v", r.Body, r.Trailers, tc.want)
			}
			for k, v := range tc.want {
				if r.Trailers[k] != v {
					t.Errorf("trailer %s = %q, want %q", k, r.Trailers[k], v)
				}
			}
		})
	}
}
