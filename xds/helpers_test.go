package xds

import (
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files (testdata/*.golden.yaml, ../envoy/bootstrap.yaml)")

// load builds a snapshot from a configuration file.
func load(t testing.TB, path string) *model.Snapshot {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return loadYAML(t, filepath.Base(path), string(data))
}

// loadYAML builds a snapshot from inline configuration.
func loadYAML(t testing.TB, name, data string) *model.Snapshot {
	t.Helper()
	snap, err := config.Load(name, []byte(data), config.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("config refused: %v", err)
	}
	return snap
}

// translate translates snap and checks everything Envoy would check
// without running Envoy: ValidateAll on every resource and every packed Any,
// and snapshot consistency.
func translate(t testing.TB, snap *model.Snapshot) *Resources {
	t.Helper()
	res, err := Translate(snap, Options{})
	if err != nil {
		t.Fatalf("Translate: %v", err)
	}
	if err := res.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if _, err := res.Snapshot("test"); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return res
}

// render prints resources as YAML with sorted keys: stable across protobuf
// versions (protojson's own whitespace is not) and easy to review.
func render(t testing.TB, res *Resources) []byte {
	t.Helper()
	doc := map[string][]json.RawMessage{}
	for _, g := range res.groups() {
		list := []json.RawMessage{}
		for _, m := range g.list {
			list = append(list, marshalJSON(t, m))
		}
		doc[g.kind+"s"] = list
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.JSONToYAML(js)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func marshalJSON(t testing.TB, m proto.Message) json.RawMessage {
	t.Helper()
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./xds -run %s -update)", err, t.Name())
	}
	if string(want) != string(got) {
		t.Errorf("%s is stale (run: go test ./xds -run '%s' -update and review the diff):\n%s", path, t.Name(), firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first differing line with some context.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			from := max(i-3, 0)
			ctx := strings.Join(g[from:min(i, len(g))], "\n")
			return "line " + strconv.Itoa(i+1) + ":\n" + ctx + "\n- want: " + wl + "\n+ got:  " + gl
		}
	}
	return "(no difference?)"
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
