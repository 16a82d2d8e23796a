package etcdstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/etcdtest"
	"github.com/apigwio/apigw/internal/release"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// bigGateway is n APIs in ten groups, as cmd/apigw's reload benchmark
// writes them.
func bigGateway(n int, tag string) *configv1.Gateway {
	gw := &configv1.Gateway{Environments: []*configv1.Environment{{Name: "BETA"}}}
	for g := range 10 {
		grp := &configv1.Group{Name: fmt.Sprintf("g%d", g), Domains: []string{fmt.Sprintf("g%d.example.com", g)}}
		for i := range n / 10 {
			grp.Apis = append(grp.Apis, &configv1.Api{
				Name: fmt.Sprintf("a%d", i), Path: fmt.Sprintf("/a%d", i), Auth: "none", Environments: []string{"BETA"},
				Backend: &configv1.Backend{Url: fmt.Sprintf("http://10.0.%d.%d:8080", g, i%250+1)},
			})
		}
		gw.Groups = append(gw.Groups, grp)
	}
	gw.Groups[0].Apis[0].Path = "/" + tag
	return gw
}

// TestLargeRelease publishes releases of 10,000 APIs through an etcd with
// its default request limit (1.5 MiB), and measures how long a publish
// takes to reach a watcher (the store's share of a publish's latency).
//
//	APIGW_REQUIRE_ETCD=1 go test ./internal/store/etcdstore -run LargeRelease -v
func TestLargeRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes thirty 10,000-API releases")
	}
	c := etcdtest.StartSingle(t)
	url := storeURL(c, "apigw")
	pub, rep := open(t, url, Options{History: 5}), open(t, url, Options{})
	r0 := &release.Release{Env: "BETA", Config: bigGateway(10000, "r0")}
	body, err := encodeRelease(r0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a release of 10,000 APIs: %d bytes stored", len(body))
	ctx := context.Background()
	first := publish(t, pub, r0, nil)
	cur, _ := rep.Current(ctx)
	got := make(chan time.Time, 64)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = rep.Watch(wctx, cur.Revision, func(*release.Current) { got <- time.Now() })
	}()
	expect := first.Number
	var toWatch, publishing []time.Duration
	for i := range 30 {
		r := &release.Release{Env: "BETA", Config: bigGateway(10000, fmt.Sprintf("r%d", i+1))}
		start := time.Now()
		out := publish(t, pub, r, map[string]uint64{"BETA": expect})
		publishing = append(publishing, time.Since(start))
		expect = out.Number
		select {
		case at := <-got:
			toWatch = append(toWatch, at.Sub(start))
		case <-time.After(30 * time.Second):
			t.Fatalf("publish %d not seen", i)
		}
	}
	slices.Sort(toWatch)
	slices.Sort(publishing)
	t.Logf("10,000-API release, 30 publishes: Publish median %v (max %v); publish to Watch callback median %v (max %v)",
		publishing[15].Round(time.Millisecond), publishing[29].Round(time.Millisecond),
		toWatch[15].Round(time.Millisecond), toWatch[29].Round(time.Millisecond))
}
