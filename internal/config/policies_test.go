package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

const policyConfig = `
settings:
  hmac: {algorithms: [hmac-sha256, HMAC-SHA512], clock_skew: 300s}
  throttling: {default_api_rps: 500, failure_mode: closed, redis_address: "127.0.0.1:6379"}
environments: [{name: PREPUB}, {name: TEST}]
token_issuers:
  - {name: corp, issuer: "https://id.example.com", jwks_file: /dev/null}
groups:
  - name: tc
    error_dialect: tencent
    path_environments: {enabled: true}
    apis:
      - {name: k, path: /k, auth: hmac, environments: [RELEASE, PREPUB], hmac: {enforce_headers: [X-Date, request-line], validate_body: true}, backend: {url: "http://10.0.0.1"}}
      - {name: t, path: /t, auth: token, token_issuers: [corp], backend: {url: "http://10.0.0.1"}}
      - {name: c, path: /c, auth: app, app_code: true, backend: {url: "http://10.0.0.1"}}
key_pairs:
  - {id: kp1, secret: {value: key-pair-secret-1}}
  - {id: kp2, secret: {value: key-pair-secret-2}, disabled: true}
usage_plans:
  - {name: gold, key_pairs: [kp1, kp2], environments: [RELEASE], rate_per_second: 10, quota: {requests: 1000, period: day}}
acl_policies:
  - {name: office, type: ip, action: allow, values: ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"], bindings: [{api: tc/*}]}
  - {name: banned, type: account, action: deny, values: [evil], bindings: [{api: tc/t}]}
throttle_policies:
  - name: std
    unit: minute
    api_limit: 100
    app_limit: 10
    special: [{type: app, name: vip, limit: 50}, {type: user, name: acme/alice, limit: 20}]
    bindings: [{api: tc/k, environments: [PREPUB]}]
apps:
  - name: vip
    key: vip-key
    secret: {value: vip-app-secret}
    codes: [{value: "` + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+/=" + `"}]
    trusted_ips: ["10.1.0.0/16", "192.0.2.7"]
`

func TestPolicySections(t *testing.T) {
	snap, err := Load("p", []byte(policyConfig), Options{})
	if err != nil {
		t.Fatal(err)
	}
	k := snap.APIs["tc/k"]
	if k.Auth != model.AuthHMAC || k.Dialect != apigerr.Tencent {
		t.Errorf("auth %v dialect %v", k.Auth, k.Dialect)
	}
	if got := k.HMAC; got.ClockSkew != 300*time.Second || len(got.Algorithms) != 2 || got.Algorithms[1] != "hmac-sha512" || !got.ValidateBody || got.EnforceHeaders[0] != "x-date" {
		t.Errorf("hmac policy %+v", got)
	}
	if snap.Groups[0].PathEnvironments["prepub"] != "PREPUB" || snap.Groups[0].PathEnvironments["release"] != "RELEASE" || snap.Groups[0].PathEnvironments["test"] != "TEST" {
		t.Errorf("path environments %v", snap.Groups[0].PathEnvironments)
	}
	rel, pre := k.Deployments["RELEASE"], k.Deployments["PREPUB"]
	if len(rel.UsagePlans) != 1 || len(pre.UsagePlans) != 0 || !rel.UsagePlans[0].HasKey("kp1") {
		t.Errorf("usage plans: release %v prepub %v", rel.UsagePlans, pre.UsagePlans)
	}
	if snap.KeyPairs["kp1"] == nil || snap.KeyPairs["kp2"] != nil || len(snap.KeyPairs["kp1"].Plans) != 1 {
		t.Errorf("key pairs %v", snap.KeyPairs)
	}
	if len(rel.ACLs) != 1 || len(snap.APIs["tc/t"].Deployments["RELEASE"].ACLs) != 2 {
		t.Errorf("ACL bindings wrong")
	}
	if pre.Throttle == nil || rel.Throttle != nil || pre.Throttle.SpecialApps["vip"] != 50 || pre.Throttle.SpecialUsers["acme/alice"] != 20 {
		t.Errorf("throttle: %+v %+v", pre.Throttle, rel.Throttle)
	}
	th := snap.Settings.Throttling
	if th.DefaultAPIRPS != 500 || !th.FailClosed || th.RedisAddress != "127.0.0.1:6379" {
		t.Errorf("throttling %+v", th)
	}
	app := snap.Apps["vip-key"]
	if len(app.Codes) != 1 || len(app.TrustedIPs) != 2 || app.TrustedIPs[1].String() != "192.0.2.7/32" {
		t.Errorf("app extras %+v", app)
	}
	if !snap.APIs["tc/c"].AppCode || snap.APIs["tc/t"].Auth != model.AuthToken || snap.TokenIssuers[0].UserClaim != "sub" {
		t.Error("app code / token wrong")
	}
}

func TestPolicyProblems(t *testing.T) {
	cfg := `
settings:
  hmac: {algorithms: [md5]}
  throttling: {failure_mode: maybe, redis_address: nohost}
token_issuers:
  - {name: x, jwks_file: a, jwks_url: "ftp://b", algorithms: [HS256, none]}
groups:
  - name: g
    error_dialect: klingon
    path_environments: {enabled: true, mapping: {"a/b": RELEASE, beta: NOPE}}
    apis:
      - {name: a, path: /a, auth: iam, app_code: true, hmac: {}, token_issuers: [ghost], backend: {url: "http://10.0.0.1"}}
key_pairs: [{id: "bad id", secret: {value: longenough}}]
usage_plans: [{name: p, key_pairs: [nope], quota: {period: fortnight}}]
acl_policies: [{name: a1, type: mac, action: maybe, values: [], bindings: []}, {name: a2, type: ip, action: deny, values: [300.1.1.1], bindings: [{api: g/zz}]}]
throttle_policies:
  - {name: t1, unit: fortnight, special: [{type: group, name: x}], bindings: [{api: g/a}]}
  - {name: t2, unit: second, api_limit: 5, bindings: [{api: g/a}]}
apps: [{name: app, key: k, secret: {value: longenough}, codes: [{value: short}], trusted_ips: [nope]}]
`
	_, err := Load("p", []byte(cfg), Options{})
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want problems, got %v", err)
	}
	want := []string{
		`settings.hmac.algorithms[0]: "md5" is not one of`,
		`settings.throttling.redis_address: "nohost" is not host:port`,
		`settings.throttling.failure_mode: "maybe" is not open or closed`,
		`token_issuers[0].issuer: the expected iss claim is required`,
		`token_issuers[0]: set exactly one of jwks_file, jwks_url`,
		`token_issuers[0].jwks_url: "ftp://b" is not an http(s) URL`,
		`token_issuers[0].algorithms[0]: "HS256" is not an allowed algorithm`,
		`token_issuers[0].algorithms[1]: "none" is not an allowed algorithm`,
		`groups[0].error_dialect: "klingon" is not apig or tencent`,
		`groups[0].path_environments.mapping.a/b: "a/b" is not a path segment`,
		`groups[0].path_environments.mapping.beta: environment "NOPE" is not defined`,
		`groups[0].apis[0].app_code: app_code applies to auth app only`,
		`groups[0].apis[0].hmac: hmac settings apply to auth hmac only`,
		`groups[0].apis[0].token_issuers[0]: token issuer "ghost" is not defined`,
		`key_pairs[0].id: a key pair id is 1-128 letters`,
		`usage_plans[0].quota.period: "fortnight" is not minute, hour, day, week or month`,
		`usage_plans[0].quota.requests: a quota needs a positive number of requests`,
		`usage_plans[0].key_pairs[0]: key pair "nope" is not defined`,
		`usage_plans[0]: bind the plan to environments or apis`,
		`acl_policies[0].type: "mac" is not ip or account`,
		`acl_policies[0].action: "maybe" is not allow or deny`,
		`acl_policies[0].values: list at least one value`,
		`acl_policies[0].bindings: bind the policy to at least one API`,
		`acl_policies[1].values[0]: "300.1.1.1" is not an IP address or CIDR`,
		`acl_policies[1].bindings[0].api: API "g/zz" is not defined`,
		`throttle_policies[0].unit: "fortnight" is not second, minute, hour or day`,
		`throttle_policies[0].special[0].limit: a special threshold needs a positive limit`,
		`throttle_policies[0].special[0].type: "group" is not app or user`,
		`throttle_policies[1].bindings: an API has one throttle policy per environment; "t1" already applies in RELEASE`,
		`apps[0].codes[0]: an app code is 64-180 characters`,
		`apps[0].trusted_ips[0]: "nope" is not an IP address or CIDR`,
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

func TestAuthorizerProblems(t *testing.T) {
	_, err := Load("az", []byte(`
authorizers:
  - {name: fn, url: "ftp://x", timeout: 5s, identity_headers: ["bad header"], cache_ttl: 2h}
  - {name: fn, url: "http://x"}
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: authorizer, authorizer: nope, backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: none, authorizer: fn, backend: {url: "http://10.0.0.1"}}
`), Options{})
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatal(err)
	}
	for _, w := range []string{
		`authorizers[0].timeout: 5s is out of range (1ms-900ms)`,
		`authorizers[0].cache_ttl: 2h0m0s is out of range (1s-1h0m0s)`,
		`authorizers[0].url: "ftp://x" is not an http(s) URL`,
		`authorizers[0].identity_headers[0]: "bad header" is not a header name`,
		`authorizers[1].name: authorizer "fn" is defined twice`,
		`groups[0].apis[0].authorizer: authorizer "nope" is not defined`,
		`groups[0].apis[1].authorizer: authorizer applies to auth authorizer only`,
	} {
		if !strings.Contains(cerr.Error(), w) {
			t.Errorf("missing %q in\n%s", w, cerr.Error())
		}
	}
}

// TestRedisCluster: redis_cluster lists seed nodes, each host:port and
// listed once, and excludes redis_address.
func TestRedisCluster(t *testing.T) {
	const groups = "\ngroups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: \"http://10.0.0.1\"}}]}]\n"
	snap, err := Load("p", []byte(`settings: {throttling: {redis_cluster: ["10.0.0.1:6379", "redis-1.internal:6379"]}}`+groups), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if th := snap.Settings.Throttling; th.RedisAddress != "" || len(th.RedisCluster) != 2 || th.RedisCluster[1] != "redis-1.internal:6379" {
		t.Fatalf("throttling %+v", th)
	}
	_, err = Load("p", []byte(`settings: {throttling: {redis_address: "10.0.0.9:6379", redis_cluster: ["10.0.0.1:6379", nohost, "10.0.0.1:6379"]}}`+groups), Options{})
	for _, want := range []string{
		`settings.throttling.redis_cluster[1]: "nohost" is not host:port`,
		`settings.throttling.redis_cluster[2]: "10.0.0.1:6379" is listed twice`,
		`settings.throttling.redis_cluster: set either redis_address (one Redis) or redis_cluster (a Redis Cluster), not both`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %s, got %v", want, err)
		}
	}
}
