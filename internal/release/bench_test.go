package release

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/config"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// bigGateway is a configuration of groups×perGroup APIs, published in
// RELEASE and BETA, with one app per group granted the group.
func bigGateway(groups, perGroup int) *configv1.Gateway {
	gw := &configv1.Gateway{Environments: []*configv1.Environment{{Name: "BETA"}}}
	for g := range groups {
		grp := &configv1.Group{Name: fmt.Sprintf("g%d", g), Domains: []string{fmt.Sprintf("g%d.example.com", g)}}
		for a := range perGroup {
			grp.Apis = append(grp.Apis, &configv1.Api{
				Name: fmt.Sprintf("a%d", a), Method: "GET", Path: fmt.Sprintf("/a%d", a), Auth: "app",
				Environments: []string{"RELEASE", "BETA"},
				Backend:      &configv1.Backend{Url: fmt.Sprintf("http://10.0.%d.%d:8080/x", g%250, a%250)},
			})
		}
		gw.Groups = append(gw.Groups, grp)
		gw.Apps = append(gw.Apps, &configv1.App{
			Name: fmt.Sprintf("app%d", g), Key: fmt.Sprintf("key-%d", g),
			Secret: &configv1.Secret{Source: &configv1.Secret_Value{Value: "secret-value-0001"}},
			Grants: []*configv1.Grant{{Api: grp.Name + "/*"}},
		})
	}
	return gw
}

// BenchmarkRelease10k: restricting, composing and diffing the releases of
// a 10,000-API configuration (what a publish and a replica do besides
// config.Build).
func BenchmarkRelease10k(b *testing.B) {
	gw := bigGateway(100, 100)
	rel, err := Restrict(gw, "RELEASE")
	if err != nil {
		b.Fatal(err)
	}
	beta, err := Restrict(gw, "BETA")
	if err != nil {
		b.Fatal(err)
	}
	cur := map[string]*Release{"RELEASE": {Env: "RELEASE", Number: 1, Config: rel}, "BETA": {Env: "BETA", Number: 1, Config: beta}}
	b.Run("restricted", func(b *testing.B) {
		for b.Loop() {
			_ = restricted(gw, "BETA")
		}
	})
	b.Run("Compose", func(b *testing.B) {
		for b.Loop() {
			if _, err := Compose(gw, cur); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A publish as a replica composes it: BETA's release is new (one API
	// changed, alternately), RELEASE's is the one composed last time.
	betas := [2]*Release{{Env: "BETA", Number: 2, Config: beta}}
	changed := proto.Clone(beta).(*configv1.Gateway)
	changed.Groups[0].Apis[2].Auth = "none"
	betas[1] = &Release{Env: "BETA", Number: 3, Config: changed}
	b.Run("Compose/publish", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			cur := map[string]*Release{"RELEASE": cur["RELEASE"], "BETA": {Env: "BETA", Number: uint64(i), Config: betas[i%2].Config}}
			if _, err := Compose(gw, cur); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Composer/publish", func(b *testing.B) {
		var cp Composer
		i := 0
		for b.Loop() {
			i++
			cur := map[string]*Release{"RELEASE": cur["RELEASE"], "BETA": {Env: "BETA", Number: uint64(i), Config: betas[i%2].Config}}
			if _, err := cp.Compose(gw, cur); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Diff", func(b *testing.B) {
		for b.Loop() {
			_ = Diff(rel, beta)
		}
	})
	b.Run("config.Build", func(b *testing.B) {
		for b.Loop() {
			if _, err := config.Build("bench", gw, config.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
