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
	"cmp"
	"slices"
	"sort"
	"strings"
	"sync"

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
		if limitsUsers(p) {
			out = append(out, []Entry{apiEntry, {Key: KeyUser, Source: Metadata, Value: MetaUser}})
		}
		if limitsApps(p) {
			out = append(out, []Entry{apiEntry, {Key: KeyApp, Source: Metadata, Value: MetaApp}})
		}
		if p.IPLimit > 0 {
			out = append(out, []Entry{apiEntry, {Key: KeyAddress, Source: RemoteAddress}})
		}
	}
	rate, quota := planLimits(d)
	if rate {
		out = append(out, []Entry{{Key: KeyPlan, Source: Metadata, Value: MetaPlan}, {Key: KeyKeyPair, Source: Metadata, Value: MetaKey}})
	}
	if quota {
		out = append(out, []Entry{{Key: KeyQuota, Source: Metadata, Value: MetaPlan}, {Key: KeyKeyPair, Source: Metadata, Value: MetaKey}})
	}
	return out
}

// ReadsMetadata reports whether a descriptor of api in env (Descriptors)
// has an entry read from the ext_authz dynamic metadata: the Check service
// publishes the caller identity for such deployments only (unless
// settings.identity_metadata is always), so the two sides follow the same
// function of the snapshot.
func ReadsMetadata(snap *model.Snapshot, api *model.API, env string) bool {
	d := api.Deployments[env]
	if d == nil {
		return false
	}
	// The conditions of Descriptors' entries from the metadata (the same
	// functions; TestReadsMetadataFollowsDescriptors), without building
	// the descriptors: the Check side asks for every deployment.
	if p := d.Throttle; p != nil && (limitsUsers(p) || limitsApps(p)) {
		return true
	}
	rate, quota := planLimits(d)
	return rate || quota
}

// limitsUsers reports whether p limits per IAM user (a descriptor with
// the caller's user from the metadata).
func limitsUsers(p *model.ThrottlePolicy) bool { return p.UserLimit > 0 || len(p.SpecialUsers) > 0 }

// limitsApps reports whether p limits per app (a descriptor with the
// caller's app from the metadata).
func limitsApps(p *model.ThrottlePolicy) bool { return p.AppLimit > 0 || len(p.SpecialApps) > 0 }

// planLimits reports whether a usage plan bound to d has a rate and
// whether one has a quota (descriptors with the plan and key from the
// metadata).
func planLimits(d *model.Deployment) (rate, quota bool) {
	for _, plan := range d.UsagePlans {
		rate = rate || plan.RatePerSecond > 0
		quota = quota || plan.QuotaRequests > 0
	}
	return rate, quota
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

// limitMemo shares the API limits of one apiDescriptors call: the
// default limit is the same for every deployment without a policy, and a
// policy's API limit the same for every deployment bound to it. Limits
// are read-only once made (nothing compares them by pointer).
type limitMemo struct {
	dflt     *ratelimit.Limit
	byPolicy map[*model.ThrottlePolicy]*ratelimit.Limit
}

// api is apiLimit(snap, d), shared.
func (m *limitMemo) api(snap *model.Snapshot, d *model.Deployment) *ratelimit.Limit {
	if p := d.Throttle; p != nil {
		if l, ok := m.byPolicy[p]; ok {
			return l
		}
		l := apiLimit(snap, d)
		if m.byPolicy == nil {
			m.byPolicy = map[*model.ThrottlePolicy]*ratelimit.Limit{}
		}
		m.byPolicy[p] = l
		return l
	}
	if m.dflt == nil {
		m.dflt = apiLimit(snap, d)
	}
	return m.dflt
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
	cfg := &ratelimit.Config{Domain: Domain, FailureMode: failureMode(snap)}
	keys := make([]string, 0, len(snap.APIs))
	for key := range snap.APIs {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	cfg.Descriptors = apiDescriptors(snap, keys, nil)
	cfg.Descriptors = append(cfg.Descriptors, planDescriptors(snap)...)
	return cfg
}

func failureMode(snap *model.Snapshot) ratelimit.FailureMode {
	if snap.Settings.Throttling.FailClosed {
		return ratelimit.FailClosed
	}
	return ratelimit.FailOpen
}

// apiDescriptors appends to out the descriptors of the deployments of the
// APIs of snap with the given keys, in that order.
func apiDescriptors(snap *model.Snapshot, keys []string, out []*ratelimit.Descriptor) []*ratelimit.Descriptor {
	// The deployments' descriptors are taken from blocks of a few hundred:
	// they live as long as the configuration, and one allocation each left
	// them scattered among a reload's garbage (docs/performance.md).
	var block []ratelimit.Descriptor
	var limits limitMemo
	for _, key := range keys {
		api := snap.APIs[key] // variants of one API: the same ID, other environments
		for _, env := range api.Environments {
			d := api.Deployments[env]
			node := ratelimit.Descriptor{Key: KeyAPI, Value: APIValue(api.ID, env), Limit: limits.api(snap, d)}
			if p := d.Throttle; p != nil {
				if limitsUsers(p) {
					node.Children = append(node.Children, perCaller(KeyUser, p, p.UserLimit, p.SpecialUsers)...)
				}
				if limitsApps(p) {
					node.Children = append(node.Children, perCaller(KeyApp, p, p.AppLimit, p.SpecialApps)...)
				}
				if p.IPLimit > 0 {
					node.Children = append(node.Children, &ratelimit.Descriptor{Key: KeyAddress, Limit: limit("ip "+p.Name, p.IPLimit, p.Unit)})
				}
			}
			if node.Limit != nil || len(node.Children) > 0 {
				if len(block) == cap(block) {
					block = make([]ratelimit.Descriptor, 0, descriptorBlock)
				}
				block = append(block, node)
				out = append(out, &block[len(block)-1])
			}
		}
	}
	return out
}

// descriptorBlock is how many descriptors apiDescriptors allocates at once.
const descriptorBlock = 256

// planDescriptors are the descriptors of the usage plans.
func planDescriptors(snap *model.Snapshot) []*ratelimit.Descriptor {
	var out []*ratelimit.Descriptor
	for _, plan := range snap.UsagePlans {
		if plan.RatePerSecond > 0 {
			out = append(out, &ratelimit.Descriptor{Key: KeyPlan, Value: plan.Name, Children: []*ratelimit.Descriptor{
				{Key: KeyKeyPair, Limit: &ratelimit.Limit{Name: "plan " + plan.Name, Requests: plan.RatePerSecond, Unit: ratelimit.Second}},
			}})
		}
		if plan.QuotaRequests > 0 {
			out = append(out, &ratelimit.Descriptor{Key: KeyQuota, Value: plan.Name, Children: []*ratelimit.Descriptor{
				{Key: KeyKeyPair, Limit: limit(QuotaLimitPrefix+plan.Name, plan.QuotaRequests, plan.QuotaPeriod)},
			}})
		}
	}
	return out
}

// Builder returns the configurations Config returns, for the successive
// snapshots of a reloading service, reusing the descriptors of each group
// whose digest is that of a group of the last snapshot it was given: equal
// digests mean equal group models (API definitions, throttle policy
// bindings, settings). The configuration is composed of one
// ratelimit.Part per group (and one for the usage plans), so that
// ratelimit.Service.Prepare validates and compiles only the new parts. The
// zero Builder is ready; it is safe for concurrent use.
type Builder struct {
	mu sync.Mutex
	// parts are the last snapshot's group parts by digest.
	parts map[string]*ratelimit.Part
}

// Config returns Config(snap), composed of parts (equal descriptors, in the
// same order).
func (b *Builder) Config(snap *model.Snapshot) *ratelimit.Config {
	groups := sortedGroups(snap)
	if groups == nil {
		return Config(snap)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	next := make(map[string]*ratelimit.Part, len(groups))
	parts := make([]*ratelimit.Part, 0, len(groups)+1)
	for _, g := range groups {
		p := b.parts[g.Digest]
		if p == nil {
			// A reused part's APIs were checked when it was made (equal
			// digests, equal APIs).
			if !idsInGroup(g) {
				return Config(snap)
			}
			keys := make([]string, len(g.APIs))
			for i, api := range g.APIs {
				keys[i] = api.Key()
			}
			sort.Strings(keys)
			p = ratelimit.NewPart(apiDescriptors(snap, keys, nil))
		}
		next[g.Digest] = p
		parts = append(parts, p)
	}
	b.parts = next
	parts = append(parts, ratelimit.NewPart(planDescriptors(snap)))
	return ratelimit.Compose(Domain, failureMode(snap), parts...)
}

// sortedGroups returns the groups of snap in the order of their APIs' keys
// when the groups hold as many APIs as snap.APIs and every group has a
// digest (a snapshot built by config: every API of a group is in
// snap.APIs); else nil. Builder.Config checks that the ids of the APIs of
// a group are "<group>/<name>" (idsInGroup). The keys of a group's APIs all start with
// its name and "/", which no group name contains, so ordering the groups by
// name then each group's keys orders all the keys.
func sortedGroups(snap *model.Snapshot) []*model.Group {
	n := 0
	for _, g := range snap.Groups {
		n += len(g.APIs)
	}
	if n != len(snap.APIs) {
		return nil
	}
	digests := make(map[string]bool, len(snap.Groups))
	names := make(map[string]bool, len(snap.Groups))
	for _, g := range snap.Groups {
		if g.Digest == "" || digests[g.Digest] || names[g.Name] || strings.Contains(g.Name, "/") {
			return nil
		}
		digests[g.Digest], names[g.Name] = true, true
	}
	groups := slices.Clone(snap.Groups)
	slices.SortFunc(groups, func(a, b *model.Group) int { return compareSlashed(a.Name, b.Name) })
	return groups
}

// idsInGroup reports whether the ids of g's APIs are "<g.Name>/<name>".
func idsInGroup(g *model.Group) bool {
	for _, api := range g.APIs {
		if len(api.ID) <= len(g.Name) || api.ID[len(g.Name)] != '/' || api.ID[:len(g.Name)] != g.Name {
			return false
		}
	}
	return true
}

// compareSlashed compares a+"/" with b+"/" (without building them).
func compareSlashed(a, b string) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	switch {
	case len(a) == len(b):
		return 0
	case len(a) < len(b):
		return cmp.Compare('/', b[n])
	default:
		return cmp.Compare(a[n], '/')
	}
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
