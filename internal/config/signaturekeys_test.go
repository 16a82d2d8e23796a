package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/apigwio/apigw/internal/model"
)

func TestSignatureKeys(t *testing.T) {
	cfg := `
environments: [{name: BETA}]
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: none, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.1"}}
      - {name: m, path: /m, auth: none, backend: {mock: {status: 200}}}
signature_keys:
  - {name: k1, type: hmac, key: gw-1, secret: {value: signing-secret}, bindings: [{api: "g/*", environments: [RELEASE]}]}
  - {name: k2, type: basic, key: gateway, secret: {value: pass-word}, bindings: [{api: g/a, environments: [BETA]}]}
`
	snap, err := Load("s", []byte(cfg), Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := snap.APIs["g/a"]
	if k := a.Deployments["RELEASE"].SignatureKey; k == nil || k.Name != "k1" || k.Type != model.SignatureHMAC || k.Key != "gw-1" || string(k.Secret.Bytes()) != "signing-secret" {
		t.Errorf("RELEASE key %+v", k)
	}
	if k := a.Deployments["BETA"].SignatureKey; k == nil || k.Type != model.SignatureBasic || k.Key != "gateway" {
		t.Errorf("BETA key %+v", k)
	}
	if k := snap.APIs["g/m"].Deployments["RELEASE"].SignatureKey; k != nil {
		t.Errorf("a mock backend has nothing to sign, got %+v", k)
	}
}

func TestSignatureKeyProblems(t *testing.T) {
	cfg := `
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}
      - name: p
        path: /p
        auth: none
        backend: {url: "http://10.0.0.1"}
        backend_policies: [{name: v2, conditions: [{type: query, name: v, values: ["2"]}], backend: {url: "http://10.0.0.2"}}]
signature_keys:
  - {name: k1, type: rsa, key: "a b", secret: {value: short}, bindings: [{api: g/zz}]}
  - {name: k2, type: hmac, key: k2, secret: {value: signing-secret}, bindings: [{api: g/a}, {api: g/p}]}
  - {name: k3, type: basic, key: "us:er", secret: {value: pass-word}, bindings: [{api: g/a}]}
  - {name: k2, type: hmac, key: x, secret: {value: signing-secret}, bindings: [{api: g/a}]}
  - {name: k4, type: hmac, key: x, secret: {value: signing-secret}}
`
	_, err := Load("s", []byte(cfg), Options{})
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want problems, got %v", err)
	}
	want := []string{
		`signature_keys[0].type: "rsa" is not hmac or basic`,
		`signature_keys[0].secret: `,
		`signature_keys[0].bindings[0].api: API "g/zz" is not defined`,
		`signature_keys[1].bindings[1]: API g/p has backend policies in RELEASE: signature keys are not supported with backend policies yet`,
		`signature_keys[2].key: a basic user name is 1-128 characters without ':'`,
		`signature_keys[2].bindings[0]: API g/a already has signature key "k2" in RELEASE (one key per API and environment`,
		`signature_keys[3].name: signature key "k2" is defined twice`,
		`signature_keys[4].bindings: bind the key to at least one API`,
	}
	msg := cerr.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q", w)
		}
	}
	if len(cerr.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(cerr.Problems), len(want), msg)
	}
}
