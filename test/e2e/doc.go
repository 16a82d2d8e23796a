// Package e2e is the end-to-end suite: apigw (in process: server.Start with
// the xDS server, as `apigw serve` wires them), echo backends and a real
// Envoy started from the bootstrap apigw generates, all on free loopback
// ports; requests go through Envoy over real HTTP, signed with the signing
// package as the official SDKs sign them.
//
//	ENVOY_BIN=/path/to/envoy go test ./test/e2e/ -v
//
// Without an Envoy binary (ENVOY_BIN, or envoy on PATH) the Envoy tests skip;
// the CI workflow .github/workflows/e2e.yml takes Envoy from the official
// image and runs them. The tests that need no Envoy (the quickstart and
// compose files, the suite's own configuration and harness) always run.
package e2e
