package release

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/apigwio/apigw/internal/config"
)

// fuzzOpts resolves no secret from the environment or the file system.
var fuzzOpts = config.Options{
	LookupEnv: func(string) (string, bool) { return "", false },
	ReadFile:  func(string) ([]byte, error) { return nil, os.ErrNotExist },
}

// FuzzCompose restricts an arbitrary configuration to each of its
// environments, composes the releases and compares: no panic, and the
// releases of one valid configuration always compose into a valid one.
func FuzzCompose(f *testing.F) {
	for _, name := range []string{"gateway.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	quick, _ := os.ReadFile(filepath.Join("..", "..", "examples", "quickstart", "gateway.yaml"))
	f.Add(quick)
	f.Add([]byte(`groups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}]}]`))
	f.Add([]byte(`{"environments":[{"name":"BETA"}],"groups":[{"name":"g","apis":[{"name":"a","path":"/a","auth":"none","environments":["BETA"],"backend":{"mock":{}}},{"name":"a","path":"/a","auth":"none","backend":{"mock":{"status":201}}}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		gw, err := config.Parse(data)
		if err != nil {
			return
		}
		envs := definedEnvs(gw)
		if len(envs) > 4 {
			envs = envs[:4]
		}
		cur := map[string]*Release{}
		for i, env := range envs {
			r, err := restrict(gw, env, fuzzOpts)
			if err != nil {
				if _, e2 := config.Build("fuzz", gw, fuzzOpts); e2 == nil && gw.GetAllowEmpty() {
					t.Fatalf("a valid configuration (allow_empty) refused for %s: %v", env, err)
				}
				continue
			}
			cur[env] = &Release{Env: env, Number: uint64(i + 1), Config: r}
			_ = Diff(gw, r)
		}
		out, err := Compose(gw, cur)
		if err != nil {
			t.Fatalf("releases of one configuration do not compose: %v", err)
		}
		_ = Diff(gw, out)
		if len(cur) == len(envs) {
			if _, err := config.Build("composed", out, fuzzOpts); err != nil {
				t.Fatalf("the releases of a valid configuration compose into an invalid one: %v", err)
			}
		}
		// Arbitrary releases (not restricted): no panic.
		raw := map[string]*Release{}
		for _, env := range envs {
			raw[env] = &Release{Env: env, Config: gw}
		}
		_, _ = Compose(gw, raw)
	})
}
