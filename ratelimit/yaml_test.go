package ratelimit

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// toYAMLDoc is the expected reading of the output, built independently of
// envoyDescs.
func toYAMLDoc(c *Config) envoyDoc {
	var conv func([]*Descriptor) []envoyDesc
	conv = func(ds []*Descriptor) []envoyDesc {
		var out []envoyDesc
		for _, d := range ds {
			y := envoyDesc{Key: d.Key, Value: d.Value, Descriptors: conv(d.Children)}
			if d.Limit != nil {
				y.RateLimit = &envoyLimit{Name: d.Limit.Name, Unit: d.Limit.Unit.String(), RequestsPerUnit: d.Limit.Requests}
			}
			out = append(out, y)
		}
		return out
	}
	return envoyDoc{Domain: c.Domain, Descriptors: conv(c.Descriptors)}
}

func TestMarshalEnvoyRatelimitYAMLGolden(t *testing.T) {
	cfg := testConfig()
	// Values that must be quoted to stay strings.
	cfg.Descriptors = append(cfg.Descriptors,
		&Descriptor{Key: "header_match", Value: "true", Limit: &Limit{Requests: 1, Unit: Second}},
		&Descriptor{Key: "remote_address", Value: "192.168.0.1"},
		&Descriptor{Key: "request_headers", Value: "a: b # \"c\"\n\tü", Limit: &Limit{Name: "007", Requests: 9, Unit: Minute}},
	)
	got, err := cfg.MarshalEnvoyRatelimitYAML()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "envoy_ratelimit.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("YAML differs from %s (run with -update after checking the diff):\n%s", golden, got)
	}
	// The document reads back as the same descriptors.
	var doc envoyDoc
	if err := yaml.UnmarshalStrict(got, &doc); err != nil {
		t.Fatalf("output is not valid YAML for the format: %v\n%s", err, got)
	}
	if w := toYAMLDoc(cfg); !reflect.DeepEqual(doc, w) {
		t.Errorf("read back:\n%+v\nwant\n%+v", doc, w)
	}
}

func TestMarshalEnvoyRatelimitYAMLRejectsInvalid(t *testing.T) {
	cfg := &Config{Domain: "d", Descriptors: []*Descriptor{{Key: "k", Limit: &Limit{Unit: Minute}}}}
	if _, err := cfg.MarshalEnvoyRatelimitYAML(); err == nil || !strings.Contains(err.Error(), "greater than 0") {
		t.Fatalf("err = %v", err)
	}
	out, err := (&Config{Domain: "empty"}).MarshalEnvoyRatelimitYAML()
	if err != nil || string(out) != "descriptors: []\ndomain: empty\n" {
		t.Fatalf("empty config: %q, %v", out, err)
	}
}
