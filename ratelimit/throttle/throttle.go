// Package throttle derives the gateway's rate limiting from a snapshot, in
// two matching halves:
//
//   - Descriptors: for each published API deployment, the rate-limit
//     descriptors its Envoy route must send (the xds package turns them into
//     route rate_limits actions);
//   - Config: the rate-limit service configuration that counts them (served
//     by the built-in service, or printed for envoyproxy/ratelimit).
//
// Both halves come from the same function of the snapshot, so a route never
// sends a descriptor the service does not know, and the nesting of the
// service config always mirrors the order of the route's actions.
//
// Descriptors (domain "apigw"):
//
//	[api=<api>@<env>]                          the API limit (policy api_limit, or the default 200/s)
//	[api=<api>@<env>, user=<account>/<user>]   per IAM/token user (user_limit, special users)
//	[api=<api>@<env>, app=<app>]               per app (app_limit, special apps)
//	[api=<api>@<env>, remote_address=<ip>]     per client address (ip_limit)
//	[plan=<plan>, key=<key id>]                a usage plan's rate per key pair
//	[quota=<plan>, key=<key id>]               a usage plan's quota per key pair
//
// user, app, plan, quota and key come from the dynamic metadata the Check
// service publishes (namespace envoy.filters.http.ext_authz, keys user, app,
// plan, key); Envoy drops a descriptor whose metadata is absent, so e.g. the
// app descriptor is only sent for app callers.
package throttle

import (
	"sort"

	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/ratelimit"
)

// Domain is the rate-limit domain of the gateway's descriptors.
const Domain = "apigw"

// Descriptor entry keys.
const (
	KeyAPI     = "api"
	KeyUser    = "user"
	KeyApp     = "app"
	KeyAddress = "remote_address"
	KeyPlan    = "plan"
	KeyQuota   = "quota"
	KeyKeyPair = "key"
)

// Metadata keys (ext_authz dynamic metadata) feeding descriptor entries.
const (
	MetaUser = "user"
	MetaApp  = "app"
	MetaPlan = "plan"
	MetaKey  = "key"
)

// Source says where the value of a descriptor entry comes from.
type Source uint8

// Entry sources.
const (
	// Fixed is a constant value (Envoy generic_key).
	Fixed Source = iota + 1
	// Metadata is an ext_authz dynamic metadata key (Envoy metadata action).
	Metadata
	// RemoteAddress is the client address (Envoy remote_address action).
	RemoteAddress
)

// Entry is one entry of a descriptor as a route must build it.
type Entry struct {
	// Key of the entry.
	Key string
	// Source of the value.
	Source Source
	// Value for Fixed; the metadata key for Metadata.
	Value string
}

// QuotaLimitPrefix starts the name of every usage-plan quota limit; the
// rate-limit service returns the exceeded limit's name, so Envoy's reply can
// say "quota" rather than "rate".
const QuotaLimitPrefix = "quota "

// APIValue is the api entry value of a deployment.
func APIValue(apiID, env string) string { return apiID + "@" + env }

// Descriptors returns the descriptors the route of api in env must send,
// in a stable order.
func Descriptors(snap *model.Snapshot, api *model.API, env string) [][]Entry {
	d := api.Deployments[env]
	if d == nil {
		return nil
	}
	apiEntry := Entry{Key: KeyAPI, Source: Fixed, Value: APIValue(api.ID, env)}
	var out [][]Entry
	if apiLimit(snap, d) != nil {
		out = append(out, []Entry{apiEntry})
	}
	if p := d.Throttle; p != nil {
		if p.UserLimit > 0 || len(p.SpecialUsers) > 0 {
			out = append(out, []Entry{apiEntry, {Key: KeyUser, Source: Metadata, Value: MetaUser}})
		}
		if p.AppLimit > 0 || len(p.SpecialApps) > 0 {
			out = append(out, []Entry{apiEntry, {Key: KeyApp, Source: Metadata, Value: MetaApp}})
		}
		if p.IPLimit > 0 {
			out = append(out, []Entry{apiEntry, {Key: KeyAddress, Source: RemoteAddress}})
		}
	}
	var rate, quota bool
	for _, plan := range d.UsagePlans {
		rate = rate || plan.RatePerSecond > 0
		quota = quota || plan.QuotaRequests > 0
	}
	if rate {
		out = append(out, []Entry{{Key: KeyPlan, Source: Metadata, Value: MetaPlan}, {Key: KeyKeyPair, Source: Metadata, Value: MetaKey}})
	}
	if quota {
		out = append(out, []Entry{{Key: KeyQuota, Source: Metadata, Value: MetaPlan}, {Key: KeyKeyPair, Source: Metadata, Value: MetaKey}})
	}
	return out
}

// apiLimit is the whole-API limit of a deployment: its policy's, else the
// gateway default (nil when neither applies).
func apiLimit(snap *model.Snapshot, d *model.Deployment) *ratelimit.Limit {
	if p := d.Throttle; p != nil && p.APILimit > 0 {
		return limit("api "+p.Name, p.APILimit, p.Unit)
	}
	if d.Throttle == nil && snap.Settings.Throttling.DefaultAPIRPS > 0 {
		return &ratelimit.Limit{Name: "api default", Requests: snap.Settings.Throttling.DefaultAPIRPS, Unit: ratelimit.Second}
	}
	return nil
}

func limit(name string, n uint32, unit string) *ratelimit.Limit {
	u, err := ratelimit.ParseUnit(unit)
	if err != nil {
		u = ratelimit.Second // validated by config; never reached
	}
	return &ratelimit.Limit{Name: name, Requests: n, Unit: u}
}

// Config returns the rate-limit service configuration for snap, with the
// failure mode of settings.throttling.failure_mode.
func Config(snap *model.Snapshot) *ratelimit.Config {
	cfg := &ratelimit.Config{Domain: Domain}
	if snap.Settings.Throttling.FailClosed {
		cfg.FailureMode = ratelimit.FailClosed
	}
	keys := make([]string, 0, len(snap.APIs))
	for key := range snap.APIs {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		api := snap.APIs[key] // variants of one API: the same ID, other environments
		for _, env := range api.Environments {
			d := api.Deployments[env]
			node := &ratelimit.Descriptor{Key: KeyAPI, Value: APIValue(api.ID, env), Limit: apiLimit(snap, d)}
			if p := d.Throttle; p != nil {
				if p.UserLimit > 0 || len(p.SpecialUsers) > 0 {
					node.Children = append(node.Children, perCaller(KeyUser, p, p.UserLimit, p.SpecialUsers)...)
				}
				if p.AppLimit > 0 || len(p.SpecialApps) > 0 {
					node.Children = append(node.Children, perCaller(KeyApp, p, p.AppLimit, p.SpecialApps)...)
				}
				if p.IPLimit > 0 {
					node.Children = append(node.Children, &ratelimit.Descriptor{Key: KeyAddress, Limit: limit("ip "+p.Name, p.IPLimit, p.Unit)})
				}
			}
			if node.Limit != nil || len(node.Children) > 0 {
				cfg.Descriptors = append(cfg.Descriptors, node)
			}
		}
	}
	for _, plan := range snap.UsagePlans {
		if plan.RatePerSecond > 0 {
			cfg.Descriptors = append(cfg.Descriptors, &ratelimit.Descriptor{Key: KeyPlan, Value: plan.Name, Children: []*ratelimit.Descriptor{
				{Key: KeyKeyPair, Limit: &ratelimit.Limit{Name: "plan " + plan.Name, Requests: plan.RatePerSecond, Unit: ratelimit.Second}},
			}})
		}
		if plan.QuotaRequests > 0 {
			cfg.Descriptors = append(cfg.Descriptors, &ratelimit.Descriptor{Key: KeyQuota, Value: plan.Name, Children: []*ratelimit.Descriptor{
				{Key: KeyKeyPair, Limit: limit(QuotaLimitPrefix+plan.Name, plan.QuotaRequests, plan.QuotaPeriod)},
			}})
		}
	}
	return cfg
}

// perCaller is the per-user or per-app nodes: a wildcard with the general
// limit, and exact-value siblings for the special thresholds (exact values
// take precedence over the wildcard, as in envoyproxy/ratelimit).
func perCaller(key string, p *model.ThrottlePolicy, general uint32, special map[string]uint32) []*ratelimit.Descriptor {
	var out []*ratelimit.Descriptor
	if general > 0 {
		out = append(out, &ratelimit.Descriptor{Key: key, Limit: limit(key+" "+p.Name, general, p.Unit)})
	}
	names := make([]string, 0, len(special))
	for n := range special {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, &ratelimit.Descriptor{Key: key, Value: n, Limit: limit(key+" "+p.Name+" special", special[n], p.Unit)})
	}
	return out
}
