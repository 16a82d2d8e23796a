package release

import (
	"crypto/sha256"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Composer is Compose keeping its last composition: a group of the result
// whose inputs (the group as each release defines it, in the environments
// it is published in) did not change since the last composition is the
// very message of the last result, not a new copy. A replica composes
// again at every publish while usually one group of one environment
// changed: config's memo of group digests (by message) and its reuse of
// group models then hit for every other group, and only the changed
// group is cloned and compared.
//
// A group's inputs are recognised by the SHA-256 of each release's group
// (deterministic protobuf binary), computed once per release (by
// pointer: releases are immutable, see Compose). The results are equal
// (proto.Equal) to Compose's for the same arguments, and a refusal is
// Compose's refusal. The messages returned are shared with later results:
// treat them as read-only. A Composer is safe for concurrent use.
type Composer struct {
	mu sync.Mutex
	// prints are the fingerprints of the releases of the last
	// composition, by release.
	prints map[*Release]*releasePrint
	// groups are the groups of the last composition, by name.
	groups map[string]*keptGroup
}

// releasePrint is what Composer needs of one release: its default
// environment and, for each group with APIs published in the release's
// environment, the group and the hash of its definition.
type releasePrint struct {
	def    string
	groups []groupPrint
}

// groupPrint is one group of a release and the SHA-256 of its
// deterministic protobuf binary.
type groupPrint struct {
	g   *configv1.Group
	sum [sha256.Size]byte
}

// groupInput is what one release contributes to a composed group: its
// environment, default environment and the group's hash.
type groupInput struct {
	env, def string
	sum      [sha256.Size]byte
}

// keptGroup is a composed group with the inputs it was composed from.
type keptGroup struct {
	inputs []groupInput
	acc    *groupAcc
}

// Compose is the package's Compose, reusing the groups of the last
// composition whose inputs are unchanged.
func (cp *Composer) Compose(local *configv1.Gateway, current map[string]*Release) (*configv1.Gateway, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var prints map[*Release]*releasePrint
	var groups map[string]*keptGroup
	out, err := compose(local, current, func(c *composer, srcs []source) bool {
		prints = make(map[*Release]*releasePrint, len(srcs))
		byName := map[string][]groupInput{}
		members := map[string][]int{} // group name -> indexes in srcs
		var order []string
		rps := make([]*releasePrint, len(srcs))
		for i, s := range srcs {
			rel := current[s.env]
			rp := cp.prints[rel]
			if rp == nil {
				var ok bool
				if rp, ok = fingerprint(s); !ok {
					return false
				}
			}
			prints[rel], rps[i] = rp, rp
			for _, gp := range rp.groups {
				name := gp.g.GetName()
				if byName[name] == nil {
					order = append(order, name)
				}
				byName[name] = append(byName[name], groupInput{env: s.env, def: rp.def, sum: gp.sum})
				members[name] = append(members[name], i)
			}
		}
		groups = make(map[string]*keptGroup, len(order))
		for _, name := range order {
			inputs := byName[name]
			if kept := cp.groups[name]; kept != nil && slices.Equal(kept.inputs, inputs) {
				c.groups[name] = kept.acc
				c.order = append(c.order, name)
				groups[name] = kept
				continue
			}
			for _, i := range members[name] {
				s, rp := srcs[i], rps[i]
				for _, gp := range rp.groups {
					if gp.g.GetName() == name {
						c.addGroup(s, gp.g, publishedAPIs(gp.g, s.env, rp.def))
					}
				}
			}
			groups[name] = &keptGroup{inputs: inputs, acc: c.groups[name]}
		}
		return true
	})
	if err != nil || groups == nil {
		return out, err
	}
	for _, kept := range groups {
		kept.acc.message() // composed: the acc is complete
	}
	cp.prints, cp.groups = prints, groups
	return out, nil
}

// fingerprint returns the print of s's release; false when the release
// names a group twice (Compose then takes it as it comes).
func fingerprint(s source) (*releasePrint, bool) {
	rp := &releasePrint{def: defaultEnv(s.gw)}
	seen := map[string]bool{}
	opts := proto.MarshalOptions{Deterministic: true}
	var buf []byte
	for _, g := range s.gw.GetGroups() {
		if !hasPublished(g, s.env, rp.def) {
			continue
		}
		if seen[g.GetName()] {
			return nil, false
		}
		seen[g.GetName()] = true
		var err error
		if buf, err = opts.MarshalAppend(buf[:0], g); err != nil {
			return nil, false
		}
		rp.groups = append(rp.groups, groupPrint{g: g, sum: sha256.Sum256(buf)})
	}
	return rp, true
}

// hasPublished reports whether g has an API published in env (def: the
// default environment).
func hasPublished(g *configv1.Group, env, def string) bool {
	for _, a := range g.GetApis() {
		if a != nil && publishedIn(a, env, def) {
			return true
		}
	}
	return false
}
