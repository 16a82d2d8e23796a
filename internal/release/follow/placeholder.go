package follow

import (
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/release"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// defaultCompose stands in for release.Compose until it lands on main
// (PLACEHOLDER: deleted when merging): local's server, listener, settings
// and environments, and everything else of every release appended.
func defaultCompose(local *configv1.Gateway, current map[string]*release.Release) (*configv1.Gateway, error) {
	gw := &configv1.Gateway{Server: local.GetServer(), Listener: local.GetListener(), Settings: local.GetSettings(), Environments: local.GetEnvironments()}
	for _, env := range slices.Sorted(maps.Keys(current)) {
		c := proto.Clone(current[env].Config).(*configv1.Gateway)
		c.Server, c.Listener, c.Settings, c.Environments = nil, nil, nil, nil
		proto.Merge(gw, c)
	}
	gw.AllowEmpty = true
	return gw, nil
}
