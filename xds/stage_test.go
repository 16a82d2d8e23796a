package xds

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/benchconfig"
	"github.com/apigwio/apigw/internal/config"
)

func TestStageBounds(t *testing.T) {
	tests := []struct {
		name     string
		weights  []int // APIs to translate, per group to translate
		perStage int
		workers  int
		want     []int
	}{
		{"off", []int{10, 10, 10, 10}, 0, 1, nil},
		{"too few APIs for two stages", []int{10, 10, 10, 9}, 20, 1, nil},
		{"one group", []int{1000}, 10, 1, nil},
		{"no group", nil, 10, 1, nil},
		{"a stage per two groups, the last left to Prepare", []int{10, 10, 10, 10, 10}, 20, 1, []int{2, 4}},
		{"a stage per group", []int{30, 30, 30}, 20, 1, []int{1, 2}},
		{"at least as many groups as workers", []int{30, 30, 30, 30, 30}, 20, 2, []int{2, 4}},
		{"uneven groups", []int{5, 40, 5, 5, 5, 30, 5}, 20, 1, []int{2, 6}},
		{"many groups with one API each to translate", []int{1, 1, 1, 1, 1, 1, 1, 1}, 2, 1, []int{2, 4, 6}},
		{"groups with nothing to translate", []int{0, 30, 0, 0, 30, 0}, 20, 1, []int{2, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stageBounds(tt.weights, tt.perStage, tt.workers); !slices.Equal(got, tt.want) {
				t.Errorf("stageBounds = %v, want %v", got, tt.want)
			}
		})
	}
}

// servedBytes is everything s serves, encoded (the route configuration as
// the bytes sent to Envoy), by type URL and name, and the versions.
func servedBytes(t *testing.T, s *Server) (map[string][]byte, map[string]map[string]string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for typ, rs := range s.served.Resources {
		for name, r := range rs.Items {
			b := s.encoded(r.Resource)
			if b == nil {
				var err error
				b, err = proto.MarshalOptions{Deterministic: true}.Marshal(r.Resource)
				if err != nil {
					t.Fatal(err)
				}
			}
			out[fmt.Sprint(typ)+" "+name] = b
		}
	}
	return out, s.served.VersionMap
}

// TestStagedPrepareIsTranslation: publishes made in stages (a first
// publish; under a memory limit, a change every group depends on too)
// serve exactly what publishes made at once serve (every resource's bytes
// and version, and the resource hashes), and so do the publishes that
// follow them; the stages did happen, and only for the publishes that
// translate many APIs.
func TestStagedPrepareIsTranslation(t *testing.T) {
	write := func(changes int) string {
		var buf bytes.Buffer
		if err := benchconfig.Write(&buf, benchconfig.Options{APIs: 480, Groups: 8, Apps: 40, IAMUsers: 10, Changes: changes}); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	base := write(0)
	const envs = "environments: [{name: BETA}]"
	if !strings.Contains(base, envs) {
		t.Fatalf("the generated configuration has no %q line to edit", envs)
	}
	variable := strings.Replace(base, envs, `environments: [{name: BETA, variables: {v: "1"}}]`, 1)
	for _, tt := range []struct {
		name  string
		limit bool // a memory limit: reloads are staged too
		steps []stagedStep
	}{
		{"no memory limit", false, []stagedStep{
			{"first publish", base, 4},
			{"one API changed", write(1), 0},
			{"a variable every API's backend depends on", variable, 0},
			{"the variable undone", base, 0},
		}},
		{"a memory limit", true, []stagedStep{
			{"first publish", base, 4},
			{"one API changed", write(1), 0},
			{"one API changed in every group", write(8), 0},
			{"a variable every API's backend depends on", variable, 4},
			{"the variable undone", base, 4},
			{"one API changed again", write(1), 0},
			// A domain of the last batch's group moved to the first
			// batch's: the first stage has it twice (the new first group,
			// the old last one), fails, and the publish is made at once.
			{"the variable, and a domain moved", strings.Replace(strings.Replace(variable,
				"domains: [g7.example.com, api7.example.net]", "domains: [g7.example.com]", 1),
				"domains: [g0.example.com, api0.example.net]", "domains: [g0.example.com, api0.example.net, api7.example.net]", 1), 0},
			// A group added after the others: left out of the stages
			// until its turn.
			{"the variable undone, and a group added", strings.Replace(base, "\napps:", "\n"+extraGroup+"apps:", 1), 5},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := debug.SetMemoryLimit(-1)
			t.Cleanup(func() { debug.SetMemoryLimit(before) })
			if tt.limit {
				debug.SetMemoryLimit(64 << 30)
			} else {
				debug.SetMemoryLimit(math.MaxInt64)
			}
			checkStagedPublishes(t, tt.steps...)
		})
	}
}

// extraGroup is a group of 60 APIs to add to a benchconfig configuration
// (before its apps).
var extraGroup = func() string {
	var b strings.Builder
	b.WriteString("  - name: gx\n    domains: [gx.example.com]\n    apis:\n")
	for i := range 60 {
		fmt.Fprintf(&b, "      - {name: x%d, path: /x%d, auth: none, backend: {url: \"http://10.9.0.%d:8080\"}}\n", i, i, i%200)
	}
	return b.String()
}()

// stagedStep is a configuration to publish, and how many stages its
// publish takes (0: made at once).
type stagedStep struct {
	what   string
	yaml   string
	stages int
}

// checkStagedPublishes publishes each step's configuration on a server
// that stages (in stages of 100 APIs) and on one that does not, and
// checks that they serve the same, and how many stages the first took.
func checkStagedPublishes(t *testing.T, steps ...stagedStep) {
	t.Helper()
	ctx := context.Background()
	var p config.Parser
	var logs syncBuffer
	whole := NewServer(discardLogger(), Options{})
	whole.stageAPIs = 0
	staged := NewServer(slog.New(slog.NewTextHandler(&logs, nil)), Options{})
	// 60 APIs per group: a stage of 100 APIs is two groups.
	staged.stageAPIs = 100
	for _, step := range steps {
		snap, err := p.Load("gw.yaml", []byte(step.yaml), config.Options{})
		if err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		logs.Reset()
		for _, s := range []*Server{whole, staged} {
			if err := s.Publish(ctx, snap); err != nil {
				t.Fatalf("%s: %v", step.what, err)
			}
		}
		want := ""
		if step.stages > 0 {
			want = fmt.Sprintf("stages=%d", step.stages)
		}
		if got := logs.String(); !strings.Contains(got, "xds configuration published") || want != "" && !strings.Contains(got, want) || want == "" && strings.Contains(got, "stages=") {
			t.Errorf("%s: logged %q, want the publish with %q", step.what, got, want)
		}
		got, gotVersions := servedBytes(t, staged)
		wantBytes, wantVersions := servedBytes(t, whole)
		if len(wantBytes) < 100 {
			t.Fatalf("%s: only %d resources served", step.what, len(wantBytes))
		}
		if !maps.EqualFunc(got, wantBytes, bytes.Equal) {
			for k := range wantBytes {
				if !bytes.Equal(got[k], wantBytes[k]) {
					t.Errorf("%s: %s differs (%d bytes, want %d)", step.what, k, len(got[k]), len(wantBytes[k]))
				}
			}
			t.Fatalf("%s: the staged server serves %d resources, the other %d, not the same", step.what, len(got), len(wantBytes))
		}
		if !maps.EqualFunc(gotVersions, wantVersions, maps.Equal) {
			t.Errorf("%s: the versions differ", step.what)
		}
		if got, want := inUseByName(staged.last), inUseByName(whole.last); !maps.Equal(got, want) {
			t.Errorf("%s: the resource hashes in use differ (%d, want %d)", step.what, len(got), len(want))
		}
	}
}

// TestStagedPrepareRefusal: a configuration refused in a stage is
// refused with the error a single translation reports.
func TestStagedPrepareRefusal(t *testing.T) {
	var buf bytes.Buffer
	if err := benchconfig.Write(&buf, benchconfig.Options{APIs: 480, Groups: 8, Apps: 40, IAMUsers: 10}); err != nil {
		t.Fatal(err)
	}
	snap, err := config.Load("gw.yaml", buf.Bytes(), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// What the loader accepts and the translator refuses: an advertise
	// address that is not host:port (clusters.go), met in every stage.
	snap.Server.AdvertiseAddress = "no-port"
	_, wantErr := Translate(snap, Options{})
	if wantErr == nil {
		t.Fatal("the translator accepts an advertise address without a port")
	}
	s := NewServer(discardLogger(), Options{})
	s.stageAPIs = 100
	err = s.Publish(context.Background(), snap)
	if err == nil || err.Error() != wantErr.Error() {
		t.Fatalf("Publish = %v, want %v", err, wantErr)
	}
	if s.last != nil || s.memo != nil {
		t.Error("a refused first publish left a validation or memo behind")
	}
}
