package xds

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestGolden translates each testdata/<feature>.input.yaml (and the
// quickstart example) and compares the resources with
// testdata/<feature>.golden.yaml. Every output also passes ValidateAll,
// including every packed Any, and is a consistent snapshot.
//
// Regenerate after an intended change with:
//
//	go test ./xds -run TestGolden -update
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.input.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{"quickstart": filepath.Join("..", "examples", "quickstart", "gateway.yaml")}
	for _, in := range inputs {
		cases[strings.TrimSuffix(filepath.Base(in), ".input.yaml")] = in
	}
	if len(cases) < 10 {
		t.Fatalf("only %d golden cases found", len(cases))
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			res := translate(t, load(t, in))
			golden(t, filepath.Join("testdata", name+".golden.yaml"), render(t, res))
		})
	}
}
