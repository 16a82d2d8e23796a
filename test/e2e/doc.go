// Package e2e is the end-to-end suite: apigw (in process: server.Start with
// the xDS server, as `apigw serve` wires them), echo backends and a real
// Envoy started from the bootstrap apigw generates, all on free loopback
// ports; requests go through Envoy over real HTTP, signed with the signing
// package as the official SDKs sign them.
//
//	make envoy                    # once: the Envoy of envoy/VERSION in .tools/envoy
//	scripts/install-sdks.sh       # once: the Node.js and Python SDK signers (sdk_test.go)
//	go test ./test/e2e/ -v
//
// The Envoy binary is $ENVOY_BIN, else .tools/envoy/bin/envoy, else envoy on
// PATH (internal/envoybin). Without one the Envoy tests skip, or fail when
// APIGW_REQUIRE_ENVOY=1, as .ci/run sets after installing Envoy. The tests
// that need no Envoy (the quickstart and compose files, the suite's own
// configuration and harness) always run.
package e2e
