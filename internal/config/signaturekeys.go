package config

import (
	"strings"

	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// signatureKeys resolves the signature keys and binds them to deployments:
// at most one key per API and environment (as the platform: the gateway
// sends one signature; see docs/configuration.md#signature_keys for
// rotating a key).
func (b *builder) signatureKeys(list []*configv1.SignatureKey) {
	names := map[string]bool{}
	owner := map[*model.Deployment]string{}
	for i, k := range list {
		path := idx("signature_keys", i)
		if !reGroupName.MatchString(k.GetName()) {
			b.ps.add(field(path, "name"), "%q is not a valid name", k.GetName())
			continue
		}
		if names[k.GetName()] {
			b.ps.add(field(path, "name"), "signature key %q is defined twice", k.GetName())
			continue
		}
		names[k.GetName()] = true
		sk := &model.SignatureKey{Name: k.GetName(), Key: k.GetKey()}
		switch k.GetType() {
		case "hmac":
			sk.Type = model.SignatureHMAC
			if !reKey.MatchString(sk.Key) {
				b.ps.add(field(path, "key"), "an hmac key is 1-128 letters, digits, _ . or - (it is the Access= of the signature)")
			}
		case "basic":
			sk.Type = model.SignatureBasic
			if sk.Key == "" || len(sk.Key) > 128 || strings.ContainsAny(sk.Key, ":\r\n") {
				b.ps.add(field(path, "key"), "a basic user name is 1-128 characters without ':' or line breaks")
			}
		default:
			b.ps.add(field(path, "type"), "%q is not hmac or basic", k.GetType())
		}
		sk.Secret, _ = b.secret(field(path, "secret"), k.GetSecret())
		for j, bd := range k.GetBindings() {
			bpath := idx(field(path, "bindings"), j)
			for _, t := range b.expand(bpath, bd.GetApi(), bd.GetEnvironments()) {
				d := t.api.Deployments[t.env]
				if prev, dup := owner[d]; dup {
					b.ps.add(bpath, "API %s already has signature key %q in %s (one key per API and environment; to rotate, see docs/configuration.md#signature_keys)", t.api.ID, prev, t.env)
					continue
				}
				if len(d.Policies) > 0 {
					// Envoy picks the policy backend; Check, which signs,
					// cannot tell which one it picked.
					b.ps.add(bpath, "API %s has backend policies in %s: signature keys are not supported with backend policies yet", t.api.ID, t.env)
					continue
				}
				if changesTarget(t.api.Parameters) {
					// Check signs the path and query the backend receives;
					// parameters change them after Check (the route's path
					// template, Envoy's query mutations).
					b.ps.add(bpath, "API %s has parameters that change the backend path or query: signature keys are not supported with them yet", t.api.ID)
					continue
				}
				owner[d] = sk.Name
				if d.Backend.Kind == model.BackendMock {
					continue // no backend to sign for
				}
				d.SignatureKey = sk
			}
		}
		if len(k.GetBindings()) == 0 {
			b.ps.add(field(path, "bindings"), "bind the key to at least one API")
		}
	}
}
