package server

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/benchconfig"
)

// TestAdminViewsPrepared: after the first load and after a reload,
// /debug/config's summary of the configuration in use is made without
// waiting for a request (so that the admin port answers with bytes while
// the next reload runs), and /debug/config answers with exactly those
// bytes. After a reload the summary is made before the reload returns
// (on the reloading goroutine, never at the same time as another
// reload), so it is there as soon as the new configuration is current.
func TestAdminViewsPrepared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write := func(changes int) {
		t.Helper()
		var buf bytes.Buffer
		o := benchconfig.Options{APIs: 1200, Groups: 2, Apps: 3, IAMUsers: 2, Changes: changes,
			GRPCAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0", AdvertiseAddress: "127.0.0.1:18300"}
		if err := benchconfig.Write(&buf, o); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	s, _ := startReplica(t, path, Options{ShutdownTimeout: time.Second})
	admin := "http://" + s.AdminAddr().String()
	prepared := func() []byte {
		t.Helper()
		snap := s.reloader.Current()
		// Wait for the views of the configuration in use, asking nothing
		// of the admin port meanwhile.
		var summary []byte
		waitFor(t, func() bool {
			var ok bool
			summary, ok = s.views.Prepared(snap)
			return ok
		})
		if summary == nil {
			t.Fatalf("no summary prepared for %d APIs", snap.APICount())
		}
		return summary
	}
	for i := range 2 {
		want := prepared()
		code, body := get(t, admin+"/debug/config")
		if code != http.StatusOK || !bytes.Equal([]byte(body), want) {
			t.Fatalf("load %d: /debug/config answered %d, not the prepared summary:\n%.300s", i, code, body)
		}
		if i == 0 {
			before := s.reloader.Current()
			write(1)
			resp, err := http.Post(admin+"/debug/reload", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || s.reloader.Current() == before {
				t.Fatalf("reload answered %d; configuration changed: %v", resp.StatusCode, s.reloader.Current() != before)
			}
			write(2)
			if err := s.Reloader().Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			if summary, ok := s.views.Prepared(s.reloader.Current()); !ok || summary == nil {
				t.Fatalf("the reload returned before the summary of its configuration was made")
			}
		}
	}
}
