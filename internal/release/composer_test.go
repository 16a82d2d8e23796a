package release

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// TestComposerMatchesCompose: along a sequence of publishes, Composer's
// result equals a fresh Compose of the same releases (its refusals too),
// the groups whose inputs did not change are the very messages of the
// previous result, and the others are new messages.
func TestComposerMatchesCompose(t *testing.T) {
	whole := readConfig(t, "gateway.yaml")
	api := func(group, name string) *configv1.Api {
		for _, g := range whole.GetGroups() {
			for _, a := range g.GetApis() {
				if g.GetName() == group && a.GetName() == name {
					return a
				}
			}
		}
		t.Fatalf("no API %s/%s", group, name)
		return nil
	}
	group := func(name string) *configv1.Group {
		for _, g := range whole.GetGroups() {
			if g.GetName() == name {
				return g
			}
		}
		t.Fatalf("no group %s", name)
		return nil
	}
	steps := []struct {
		name    string
		change  func()
		publish []string // environments published from whole
		// rollback: environment -> index of the step whose release of it
		// becomes current again (a new release, the same configuration).
		rollback map[string]int
		drop     []string // environments whose current release is removed
		reused   []string // groups that must be the previous result's messages
		rebuilt  []string // groups that must be new messages
		refused  bool
	}{
		{name: "first", publish: allEnvs, rebuilt: []string{"shop", "admin"}},
		{name: "BETA again, unchanged", publish: []string{"BETA"}, reused: []string{"shop", "admin"}},
		{name: "one API of BETA", change: func() { api("shop", "sign").Backend.Url = "http://10.0.0.9:8080/signed" },
			publish: []string{"BETA"}, reused: []string{"admin"}, rebuilt: []string{"shop"}},
		{name: "BETA and RELEASE, one group changed", change: func() { api("admin", "stats").Backend.Path = "/stats/v2" },
			publish: []string{"BETA", "RELEASE"}, reused: []string{"shop"}, rebuilt: []string{"admin"}},
		{name: "a shared app", change: func() { whole.GetApps()[0].TrustedIps = []string{"192.168.0.0/16"} },
			publish: allEnvs, reused: []string{"shop", "admin"}},
		{name: "a variant added", change: func() {
			// getUser of BETA differs from RELEASE's: two variants.
			api("shop", "getUser").Backend.Url = "http://10.0.0.7:8080/v2/users"
		}, publish: []string{"BETA"}, reused: []string{"admin"}, rebuilt: []string{"shop"}},
		{name: "the variant removed (rollback)", rollback: map[string]int{"BETA": 4}, reused: []string{"admin"}, rebuilt: []string{"shop"}},
		{name: "a shared group differs", change: func() { group("shop").Domains = []string{"shop2.example.com"} },
			publish: []string{"TEST"}, refused: true},
		{name: "the difference published everywhere", publish: allEnvs, rebuilt: []string{"shop"}, reused: []string{"admin"}},
		{name: "TEST removed", drop: []string{"TEST"}, rebuilt: []string{"shop"}, reused: []string{"admin"}},
		{name: "the default environment", change: func() {
			// listOrders (no environments) moves from RELEASE to BETA.
			whole.Settings.DefaultEnvironment = "BETA"
			whole.Environments = append(whole.Environments, &configv1.Environment{Name: "RELEASE"})
		}, publish: []string{"RELEASE", "BETA"}, rebuilt: []string{"shop", "admin"}}, // the default environment is an input of every group
		{name: "an API no longer published in BETA", change: func() { api("admin", "stats").Environments = []string{"RELEASE"} },
			publish: []string{"RELEASE", "BETA"}, rebuilt: []string{"admin"}, reused: []string{"shop"}},
	}
	local := parse(t, `listener: {port: 10080}`)
	var cp Composer
	cur := map[string]*Release{}
	var history []map[string]*Release
	numbers := map[string]uint64{}
	var last *configv1.Gateway // the last result
	for i, st := range steps {
		if st.change != nil {
			st.change()
		}
		next := maps.Clone(cur)
		for _, env := range st.publish {
			numbers[env]++
			next[env] = rel(env, numbers[env], mustRestrict(t, whole, env))
		}
		for env, k := range st.rollback {
			numbers[env]++
			next[env] = &Release{Env: env, Number: numbers[env], RollbackOf: history[k][env].Number, Config: history[k][env].Config}
		}
		for _, env := range st.drop {
			delete(next, env)
		}
		want, wantErr := Compose(local, next)
		got, err := cp.Compose(local, next)
		if st.refused {
			if wantErr == nil || err == nil || err.Error() != wantErr.Error() {
				t.Fatalf("step %d (%s): refusal %v, want %v", i, st.name, err, wantErr)
			}
			history = append(history, cur) // not published
			continue
		}
		if wantErr != nil || err != nil {
			t.Fatalf("step %d (%s): %v / Compose: %v", i, st.name, err, wantErr)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("step %d (%s): Composer's result differs from Compose's:\n%s\nwant:\n%s", i, st.name, yamlOf(t, got), yamlOf(t, want))
		}
		byName := func(gw *configv1.Gateway) map[string]*configv1.Group {
			m := map[string]*configv1.Group{}
			for _, g := range gw.GetGroups() {
				m[g.GetName()] = g
			}
			return m
		}
		now, prev := byName(got), byName(last)
		for _, name := range st.reused {
			if now[name] == nil || now[name] != prev[name] {
				t.Errorf("step %d (%s): group %s is a new message, want the previous result's", i, st.name, name)
			}
		}
		for _, name := range st.rebuilt {
			if now[name] == nil || now[name] == prev[name] {
				t.Errorf("step %d (%s): group %s is the previous result's message, want a new one", i, st.name, name)
			}
		}
		if len(st.reused)+len(st.rebuilt) != len(now) {
			t.Errorf("step %d (%s): groups %v, the test names %v and %v", i, st.name, slices.Sorted(maps.Keys(now)), st.reused, st.rebuilt)
		}
		cur, last = next, got
		history = append(history, cur)
	}
	// The releases were not modified: each composes as it did.
	if _, err := Compose(local, cur); err != nil {
		t.Fatal(err)
	}
}

// TestComposerKeepsResults: a result stays as it was returned after later
// compositions (later ones never modify the messages they share with it).
func TestComposerKeepsResults(t *testing.T) {
	whole := readConfig(t, "gateway.yaml")
	local := parse(t, `listener: {port: 10080}`)
	var cp Composer
	cur := map[string]*Release{}
	for i, env := range allEnvs {
		cur[env] = rel(env, uint64(i+1), mustRestrict(t, whole, env))
	}
	first, err := cp.Compose(local, cur)
	if err != nil {
		t.Fatal(err)
	}
	kept := proto.Clone(first)
	for n := range 3 {
		whole.GetGroups()[0].GetApis()[0].Backend.Url = fmt.Sprintf("http://10.0.0.%d:8080/users", 20+n)
		cur = maps.Clone(cur)
		cur["BETA"] = rel("BETA", uint64(10+n), mustRestrict(t, whole, "BETA"))
		if _, err := cp.Compose(local, cur); err != nil {
			t.Fatal(err)
		}
	}
	if !proto.Equal(first, kept) {
		t.Error("a later composition modified an earlier result")
	}
}
