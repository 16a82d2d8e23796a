package xds

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/benchconfig"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

func TestStageBounds(t *testing.T) {
	groups := func(apis ...int) []*model.Group {
		var gs []*model.Group
		for _, n := range apis {
			gs = append(gs, &model.Group{APIs: make([]*model.API, n)})
		}
		return gs
	}
	tests := []struct {
		name     string
		groups   []*model.Group
		perStage int
		workers  int
		want     []int
	}{
		{"off", groups(10, 10, 10, 10), 0, 1, nil},
		{"too few APIs for two stages", groups(10, 10, 10, 9), 20, 1, nil},
		{"one group", groups(1000), 10, 1, nil},
		{"no group", nil, 10, 1, nil},
		{"a stage per two groups, the last left to Prepare", groups(10, 10, 10, 10, 10), 20, 1, []int{2, 4}},
		{"a stage per group", groups(30, 30, 30), 20, 1, []int{1, 2}},
		{"at least as many groups as workers", groups(30, 30, 30, 30, 30), 20, 2, []int{2, 4}},
		{"uneven groups", groups(5, 40, 5, 5, 5, 30, 5), 20, 1, []int{2, 6}},
		{"a nil group counts no API", []*model.Group{{APIs: make([]*model.API, 30)}, nil, {APIs: make([]*model.API, 30)}, {APIs: make([]*model.API, 1)}}, 20, 1, []int{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stageBounds(tt.groups, tt.perStage, tt.workers); !slices.Equal(got, tt.want) {
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

// TestStagedFirstLoadIsTranslation: a first publish made in stages serves
// exactly what one made at once serves (every resource's bytes and
// version), and so does a reload after it; the stages did happen.
func TestStagedFirstLoadIsTranslation(t *testing.T) {
	ctx := context.Background()
	var p config.Parser
	files := map[string][]byte{}
	for _, changes := range []int{0, 1} {
		var buf bytes.Buffer
		if err := benchconfig.Write(&buf, benchconfig.Options{APIs: 480, Groups: 8, Apps: 40, IAMUsers: 10, Changes: changes}); err != nil {
			t.Fatal(err)
		}
		files[string(rune('0'+changes))] = buf.Bytes()
	}
	snap, err := p.Load("gw.yaml", files["0"], config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	changed, err := p.Load("gw.yaml", files["1"], config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The stages: 60 APIs per group, so a stage of 100 APIs is two
	// groups, three stages before the whole.
	const perStage = 100
	v, memo := stageFirstLoad(snap, Options{}.withDefaults(), perStage)
	if v == nil || memo == nil {
		t.Fatal("stageFirstLoad did not stage 480 APIs in stages of 100")
	}
	bounds := stageBounds(snap.Groups, perStage, 1)
	if want := bounds[len(bounds)-1]; len(memo.groups) != want || !memo.encodedIn(v) {
		t.Fatalf("the last stage memorised %d groups (encoded: %t), want the %d of the longest prefix", len(memo.groups), memo.encodedIn(v), want)
	}

	whole := NewServer(discardLogger(), Options{})
	whole.stageAPIs = 0
	staged := NewServer(discardLogger(), Options{})
	staged.stageAPIs = perStage
	for _, step := range []struct {
		what string
		snap *model.Snapshot
	}{{"first publish", snap}, {"one API changed", changed}, {"changed back", snap}} {
		for _, s := range []*Server{whole, staged} {
			if err := s.Publish(ctx, step.snap); err != nil {
				t.Fatalf("%s: %v", step.what, err)
			}
		}
		got, gotVersions := servedBytes(t, staged)
		want, wantVersions := servedBytes(t, whole)
		if len(want) < 100 {
			t.Fatalf("%s: only %d resources served", step.what, len(want))
		}
		if !maps.EqualFunc(got, want, bytes.Equal) {
			for k := range want {
				if !bytes.Equal(got[k], want[k]) {
					t.Errorf("%s: %s differs (%d bytes, want %d)", step.what, k, len(got[k]), len(want[k]))
				}
			}
			t.Fatalf("%s: the staged server serves %d resources, the other %d, not the same", step.what, len(got), len(want))
		}
		if !maps.EqualFunc(gotVersions, wantVersions, maps.Equal) {
			t.Errorf("%s: the versions differ", step.what)
		}
		if got, want := inUseByName(staged.last), inUseByName(whole.last); !maps.Equal(got, want) {
			t.Errorf("%s: the resource hashes in use differ (%d, want %d)", step.what, len(got), len(want))
		}
	}
}

// TestStagedFirstLoadRefusal: a configuration refused in a stage is
// refused with the error a single translation reports.
func TestStagedFirstLoadRefusal(t *testing.T) {
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
