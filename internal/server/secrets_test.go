package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestNoSecretInLogs runs the service with debug JSON logs through loads,
// reloads (good and bad), allowed and denied Checks and a lockout, then
// looks for every secret in everything logged and served on the admin port.
func TestNoSecretInLogs(t *testing.T) {
	secrets := []string{"shared-secret-1", "second-secret-2", "file-secret-3"}
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "sk")
	if err := os.WriteFile(secretFile, []byte(secrets[2]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := replicaCfg + `
apps:
  - {name: a1, key: appkey1, secret: {value: ` + secrets[1] + `}}
key_pairs:
  - {id: kp1, secret: {file: ` + secretFile + `}}
`
	path := filepath.Join(dir, "gw.yaml")
	write(t, path, cfg)
	logs := &syncWriter{w: &strings.Builder{}}
	s, err := Start(context.Background(), Options{ConfigPath: path, WatchInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := authv3.NewAuthorizationClient(conn)
	ctx := context.Background()
	for _, secret := range []string{"shared-secret-1", "wrong-secret-9", "wrong-secret-9", "wrong-secret-9", "shared-secret-1"} {
		if _, err := c.Check(ctx, signedCheck(t, secret)); err != nil {
			t.Fatal(err)
		}
	}
	// A refused reload (its problems are logged) and an accepted one.
	write(t, path, cfg+"\nlistener: {port: 99999}\n")
	waitFor(t, func() bool { return strings.Contains(logs.String(), "listener.port") })
	write(t, path, cfg+"\n# touched\n")
	waitFor(t, func() bool { return strings.Count(logs.String(), "config reloaded") >= 1 })

	var served strings.Builder
	for _, p := range []string{"/debug/config", "/debug/reload", "/metrics"} {
		_, body := get(t, "http://"+s.AdminAddr().String()+p)
		served.WriteString(body)
	}
	s.Shutdown()
	all := logs.String() + served.String()
	if !strings.Contains(logs.String(), `"level":"DEBUG"`) || !strings.Contains(logs.String(), "request_id") {
		t.Fatalf("debug decision logs with request ids expected, got:\n%s", logs.String())
	}
	for _, secret := range append(secrets, "wrong-secret-9") {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q found in logs or admin output", secret)
		}
	}
}
