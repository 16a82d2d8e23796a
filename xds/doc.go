// Package xds turns a model.Snapshot into Envoy v3 configuration and serves
// it to Envoy over ADS.
//
// Translate is a pure function: the same snapshot and options always give
// the same resources, byte for byte once marshalled deterministically. It
// produces one listener (the HTTP connection manager with the CORS,
// ext_authz and router filters), one route configuration with a virtual host
// per API group, one cluster per distinct backend (plus the cluster of the
// Check service) and one ClusterLoadAssignment per EDS channel.
//
// Server wraps go-control-plane's snapshot cache and xDS server. Publish
// translates, validates (ValidateAll on every resource and on every packed
// Any, and snapshot consistency) and only then replaces what every Envoy
// node receives; a failed Publish changes nothing (Prepare splits it into
// the part that can fail and the commit). Each Publish remembers what the
// next one can reuse: the translation of every group by its digest, and
// the hashes and encodings of the validated messages, so a change in one
// group translates, validates and encodes that group only. Status reports
// the ACK/NACK state of each node.
//
// Bootstrap renders the static Envoy bootstrap that points an Envoy at the
// server. docs/xds.md describes how configuration maps to Envoy.
package xds
