package etcdstore

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/release"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url       string
		endpoints string
		prefix    string
		tls       bool
		err       string
	}{
		{url: "etcd://127.0.0.1:2379/apigw", endpoints: "http://127.0.0.1:2379", prefix: "/apigw/"},
		{url: "etcd://a:1,b:2,[::1]:3/apigw/prod/", endpoints: "http://a:1 http://b:2 http://[::1]:3", prefix: "/apigw/prod/"},
		{url: "etcds://etcd.example:2379/x", endpoints: "https://etcd.example:2379", prefix: "/x/", tls: true},
		{url: "http://127.0.0.1:2379/apigw", err: "must start with etcd://"},
		{url: "etcd://127.0.0.1:2379", err: "no key prefix"},
		{url: "etcd://127.0.0.1:2379/", err: "no key prefix"},
		{url: "etcd:///apigw", err: "no HOST:PORT"},
		{url: "etcd://127.0.0.1/apigw", err: "is not HOST:PORT"},
		{url: "etcd://127.0.0.1:0/apigw", err: "invalid port"},
		{url: "etcd://127.0.0.1:2379,/apigw", err: "is not HOST:PORT"},
		{url: "etcd://root:pw@127.0.0.1:2379/apigw", err: "must not hold credentials"},
		{url: "etcd://127.0.0.1:2379/a//b", err: "invalid prefix"},
		{url: "etcd://127.0.0.1:2379/a/../b", err: "invalid prefix"},
		{url: "etcd://127.0.0.1:2379/a?x=1", err: "must not hold ?"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			got, err := ParseURL(tc.url)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Fatalf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Endpoints, " ") != tc.endpoints || got.Prefix != tc.prefix || got.TLS != tc.tls {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	r := rel("BETA", "/v1", "a note")
	r.Number, r.Created, r.RollbackOf = 7, time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), 3
	body, err := encodeRelease(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeAt("BETA", 7, body)
	if err != nil {
		t.Fatal(err)
	}
	if got.Env != r.Env || got.Number != 7 || !got.Created.Equal(r.Created) || got.Note != r.Note || got.Publisher != r.Publisher ||
		got.SourceDigest != r.SourceDigest || got.RollbackOf != 3 || !proto.Equal(got.Config, r.Config) {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := decodeAt("BETA", 8, body); err == nil {
		t.Fatal("a body stored under another number was accepted")
	}
	if _, err := encodeRelease(&release.Release{Env: "BETA", Number: 1}); err == nil {
		t.Fatal("a release without configuration was encoded")
	}
}

// gzipBomb is a body whose configuration decompresses beyond the limit.
func gzipBomb(t testing.TB) []byte {
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	chunk := make([]byte, 1<<20)
	for range maxConfigBytes>>20 + 1 {
		_, _ = zw.Write(chunk)
	}
	_ = zw.Close()
	sum := sha256.Sum256(nil)
	b, _ := json.Marshal(envelope{Kind: Kind, Release: &relMeta{Env: "BETA", Number: 1}, Encoding: encodingProtoGzip, Config: z.Bytes(), SHA256: hex.EncodeToString(sum[:])})
	return b
}

func TestDecodeRefuses(t *testing.T) {
	good, _ := encodeRelease(&release.Release{Env: "BETA", Number: 1, Config: gateway("BETA", "/x")})
	mut := func(f func(e *envelope)) []byte {
		var e envelope
		if err := json.Unmarshal(good, &e); err != nil {
			t.Fatal(err)
		}
		f(&e)
		b, _ := json.Marshal(e)
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a release body"},
		{"not JSON", []byte("hello"), "not a release body"},
		{"trailing data", append(append([]byte{}, good...), []byte(" {}")...), "data after"},
		{"unknown field", bytes.Replace(good, []byte(`{"kind"`), []byte(`{"x":1,"kind"`), 1), "unknown field"},
		{"foreign kind", mut(func(e *envelope) { e.Kind = "other/v1" }), "kind"},
		{"no metadata", mut(func(e *envelope) { e.Release = nil }), "no release metadata"},
		{"bad env", mut(func(e *envelope) { e.Release.Env = "../x" }), "invalid environment"},
		{"number 0", mut(func(e *envelope) { e.Release.Number = 0 }), "number 0"},
		{"encoding", mut(func(e *envelope) { e.Encoding = "yaml" }), "config encoding"},
		{"digest not hex", mut(func(e *envelope) { e.SHA256 = "zz" }), "not a hex SHA-256"},
		{"digest wrong", mut(func(e *envelope) { e.SHA256 = strings.Repeat("00", 32) }), "does not match"},
		{"not gzip", mut(func(e *envelope) { e.Config = []byte("plain") }), "not gzip"},
		{"gzip bomb", gzipBomb(t), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeRelease(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeRelease: values under the prefix are untrusted (anything with
// write access to etcd can put them there). Decoding never panics, and what
// it accepts encodes back to a body that decodes to the same release.
func FuzzDecodeRelease(f *testing.F) {
	good, _ := encodeRelease(&release.Release{Env: "BETA", Number: 3, Note: "n", Config: gateway("BETA", "/x")})
	f.Add(good)
	f.Add([]byte(`{"kind":"apigw.release/v1","release":{"env":"BETA","number":1},"config_encoding":"proto+gzip","config":"","config_sha256":""}`))
	f.Add([]byte(`{"kind":"someone.else/v1"}`))
	f.Add([]byte(`null`))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRelease(data)
		if err != nil {
			return
		}
		body, err := encodeRelease(r)
		if err != nil {
			t.Fatalf("accepted but cannot encode: %v", err)
		}
		again, err := decodeRelease(body)
		if err != nil {
			t.Fatalf("re-encoded body refused: %v", err)
		}
		if again.Env != r.Env || again.Number != r.Number || !proto.Equal(again.Config, r.Config) {
			t.Fatal("re-encoded body decodes differently")
		}
	})
}
