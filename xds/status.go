package xds

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Status is the state of the xDS server, served as JSON by the admin
// endpoint.
type Status struct {
	// Version of the snapshot served ("" before the first Publish).
	Version string `json:"version"`
	// PublishedAt is when that snapshot was published.
	PublishedAt time.Time `json:"published_at,omitzero"`
	// Nodes that have connected, by id: the connected ones and those that
	// disconnected less than NodeRetention ago, at most MaxStatusNodes
	// (connected first).
	Nodes []NodeStatus `json:"nodes"`
	// NodesTotal is the number of nodes tracked; when it is larger than
	// len(Nodes), Nodes was cut to MaxStatusNodes.
	NodesTotal int `json:"nodes_total"`
	// ACKs and NACKs count the responses Envoy nodes accepted and rejected
	// since the server started.
	ACKs  uint64 `json:"acks"`
	NACKs uint64 `json:"nacks"`
	// Certificates served over SDS (names, files and validity; never
	// their contents).
	Certificates []CertificateStatus `json:"certificates,omitempty"`
	// EnvoyMemory is what the configuration served is expected to cost
	// each Envoy (nil before the first Publish); a node whose heap limit
	// is below it is marked HeapShort.
	EnvoyMemory *EnvoyMemory `json:"envoy_memory,omitempty"`
}

// NodeStatus is the state of one Envoy node (all streams with its node id).
type NodeStatus struct {
	// ID is the node id (bootstrap node.id).
	ID string `json:"id"`
	// Cluster is the node cluster (bootstrap node.cluster).
	Cluster string `json:"cluster"`
	// Connected is true while the node has an open xDS stream.
	Connected bool `json:"connected"`
	// Streams is the number of open streams.
	Streams int `json:"streams"`
	// Acked maps a resource type (listener, route, cluster, endpoint, or
	// the type URL of another type) to the last version the node accepted.
	Acked map[string]string `json:"acked"`
	// LastNACK is the last rejection, nil if none.
	LastNACK *NACK `json:"last_nack,omitempty"`
	// LastSeen is when the node last sent a request.
	LastSeen time.Time `json:"last_seen,omitzero"`
	// DisconnectedAt is when its last stream closed (zero while
	// connected).
	DisconnectedAt time.Time `json:"disconnected_at,omitzero"`
	// MaxHeapBytes is the heap size of the node's overload manager, as
	// its node metadata states it ("apigw bootstrap" puts it there; 0:
	// not stated).
	MaxHeapBytes uint64 `json:"max_heap_bytes,omitempty"`
	// HeapShort is true when the configuration served is expected to
	// need more than the node's overload manager allows (95% of
	// MaxHeapBytes, with one worker thread): Envoy then stops accepting
	// connections, and at 98% answers every request 503.
	HeapShort bool `json:"heap_short,omitempty"`
	// heapWarned is the version whose HeapShort was logged for the node.
	heapWarned string
}

// Bounds on the per-node state: node ids and clusters come from any
// client that reaches the gRPC port.
const (
	// MaxNodeIDBytes is the longest node id (and node cluster) accepted:
	// a stream whose node has a longer one is refused with
	// InvalidArgument.
	MaxNodeIDBytes = 256
	// NodeRetention is how long a disconnected node stays in the status.
	NodeRetention = 10 * time.Minute
	// MaxTrackedNodes bounds the disconnected nodes kept: past it the
	// longest disconnected are forgotten first. Connected nodes are always
	// tracked.
	MaxTrackedNodes = 1000
	// MaxStatusNodes is the most nodes Status lists.
	MaxStatusNodes = 1000
	// logIDBytes is how much of a node id a log line shows.
	logIDBytes = 64
)

// logID is id for logs: at most logIDBytes bytes, with its length when cut.
func logID(id string) string {
	if len(id) <= logIDBytes {
		return id
	}
	cut := logIDBytes
	for cut > 0 && !utf8.RuneStart(id[cut]) {
		cut--
	}
	return fmt.Sprintf("%s...(%d bytes)", id[:cut], len(id))
}

// checkNode refuses a node whose id or cluster is over MaxNodeIDBytes.
func checkNode(node *corev3.Node) error {
	if node == nil {
		return nil
	}
	if n := len(node.GetId()); n > MaxNodeIDBytes {
		return status.Errorf(codes.InvalidArgument, "node id is %d bytes, more than the %d allowed", n, MaxNodeIDBytes)
	}
	if n := len(node.GetCluster()); n > MaxNodeIDBytes {
		return status.Errorf(codes.InvalidArgument, "node cluster is %d bytes, more than the %d allowed", n, MaxNodeIDBytes)
	}
	return nil
}

// NACK is a configuration Envoy rejected.
type NACK struct {
	// Version rejected ("" if unknown).
	Version string `json:"version"`
	// Type of the rejected resources.
	Type string `json:"type"`
	// Message is Envoy's error_detail.
	Message string `json:"message"`
	// Time the NACK was received.
	Time time.Time `json:"time"`
}

// tracker implements the go-control-plane server callbacks: it logs
// streams, ACKs and NACKs and keeps the per-node state behind Status.
type tracker struct {
	log *slog.Logger
	now func() time.Time

	mu          sync.Mutex
	nodes       map[string]*NodeStatus
	streams     map[streamKey]*streamState
	acks, nacks uint64
	// version and memory are the configuration served and its
	// EnvoyMemory (setMemory), that nodes' heap limits are checked
	// against.
	version string
	memory  *EnvoyMemory
}

// streamKey names a stream: the SotW and the delta servers number their
// streams each from 1, so an id alone names two streams once Envoys of
// both protocols connect.
type streamKey struct {
	delta bool
	id    int64
}

type streamState struct {
	node     string // node id, "" until known
	delta    bool
	typeURL  string            // the stream's type ("" for ADS)
	sent     map[string]string // type URL -> nonce of the last response
	sentVers map[string]string // type URL -> version of the last response
}

func newTracker(log *slog.Logger) *tracker {
	return &tracker{log: log, now: time.Now, nodes: map[string]*NodeStatus{}, streams: map[streamKey]*streamState{}}
}

// shortType names the common resource types briefly.
func shortType(typeURL string) string {
	switch typeURL {
	case resourcev3.ListenerType:
		return "listener"
	case resourcev3.RouteType:
		return "route"
	case resourcev3.ClusterType:
		return "cluster"
	case resourcev3.EndpointType:
		return "endpoint"
	case resourcev3.SecretType:
		return "secret"
	}
	return strings.TrimPrefix(typeURL, resourcev3.APITypePrefix)
}

func (t *tracker) open(id int64, typeURL string, delta bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.streams[streamKey{delta, id}] = &streamState{delta: delta, typeURL: typeURL, sent: map[string]string{}, sentVers: map[string]string{}}
}

func (t *tracker) closed(id int64, delta bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.streams[streamKey{delta, id}]
	delete(t.streams, streamKey{delta, id})
	if st == nil || st.node == "" {
		return
	}
	if n := t.nodes[st.node]; n != nil {
		n.Streams--
		n.Connected = n.Streams > 0
		if !n.Connected {
			n.DisconnectedAt = t.now()
		}
		t.log.Info("xds stream closed", "node", logID(st.node), "stream", id, "open_streams", n.Streams)
	}
	t.prune()
}

// prune forgets the nodes disconnected for longer than NodeRetention and,
// past MaxTrackedNodes disconnected nodes, the longest disconnected.
// t.mu is held.
func (t *tracker) prune() {
	now := t.now()
	var gone []*NodeStatus
	for id, n := range t.nodes {
		if n.Connected {
			continue
		}
		if now.Sub(n.DisconnectedAt) > NodeRetention {
			delete(t.nodes, id)
			continue
		}
		gone = append(gone, n)
	}
	if len(gone) <= MaxTrackedNodes {
		return
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].DisconnectedAt.Before(gone[j].DisconnectedAt) })
	for _, n := range gone[:len(gone)-MaxTrackedNodes] {
		delete(t.nodes, n.ID)
	}
}

// checkRequest refuses a stream's first request when its node is over the
// bounds (checkNode), and logs it with the id cut.
func (t *tracker) checkRequest(id int64, delta bool, node *corev3.Node) error {
	err := checkNode(node)
	if err != nil {
		t.log.Warn("xds stream refused", "node", logID(node.GetId()), "stream", id, "delta", delta, "error", err)
	}
	return err
}

// request records a request: the node on its first message, then an ACK
// or a NACK of the last response of that type.
func (t *tracker) request(id int64, delta bool, node *corev3.Node, typeURL, nonce, ackedVersion string, errDetail string, hasErr bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.streams[streamKey{delta, id}]
	if st == nil { // stream opened before the tracker knew it; be lenient
		st = &streamState{delta: delta, sent: map[string]string{}, sentVers: map[string]string{}}
		t.streams[streamKey{delta, id}] = st
	}
	if typeURL == "" {
		typeURL = st.typeURL
	}
	if st.node == "" {
		if node == nil {
			return
		}
		st.node = node.GetId()
		n := t.nodes[st.node]
		if n == nil {
			n = &NodeStatus{ID: st.node, Acked: map[string]string{}}
			t.nodes[st.node] = n
		}
		n.Cluster = node.GetCluster()
		n.MaxHeapBytes = nodeMaxHeap(node)
		n.Streams++
		n.Connected = true
		n.DisconnectedAt = time.Time{}
		t.log.Info("xds stream opened", "node", logID(st.node), "cluster", logID(n.Cluster), "stream", id, "delta", st.delta)
		t.checkHeap(n)
	}
	n := t.nodes[st.node]
	n.LastSeen = t.now()
	if nonce == "" {
		return // initial request, not an answer
	}
	// The version answered is that of the response the nonce names; a
	// SotW ACK also states it.
	version := ""
	if st.sent[typeURL] == nonce {
		version = st.sentVers[typeURL]
	} else if !hasErr {
		version = ackedVersion
	}
	if hasErr {
		t.nacks++
		n.LastNACK = &NACK{Version: version, Type: shortType(typeURL), Message: errDetail, Time: t.now()}
		t.log.Warn("xds configuration rejected by Envoy (NACK)", "node", logID(st.node), "type", shortType(typeURL), "version", version, "error", errDetail)
		return
	}
	t.acks++
	if version != "" {
		n.Acked[shortType(typeURL)] = version
	}
	t.log.Debug("xds configuration accepted (ACK)", "node", logID(st.node), "type", shortType(typeURL), "version", version)
}

func (t *tracker) response(id int64, delta bool, typeURL, nonce, version string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.streams[streamKey{delta, id}]
	if st == nil {
		return
	}
	if typeURL == "" {
		typeURL = st.typeURL
	}
	st.sent[typeURL] = nonce
	st.sentVers[typeURL] = version
}

// setMemory records the EnvoyMemory of the version now served and warns
// about each connected node whose heap limit is below it.
func (t *tracker) setMemory(version string, m EnvoyMemory) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.version, t.memory = version, &m
	for _, n := range t.nodes {
		if n.Connected {
			t.checkHeap(n)
		}
	}
}

// checkHeap logs, once per version, that node n's heap limit is below
// what the configuration served needs. t.mu is held.
func (t *tracker) checkHeap(n *NodeStatus) {
	if t.memory == nil || !t.memory.HeapShort(n.MaxHeapBytes) || n.heapWarned == t.version {
		return
	}
	n.heapWarned = t.version
	t.log.Warn("xds: the configuration needs more memory than this Envoy's heap limit: its overload manager will stop accepting connections and answer 503; raise the limit (apigw bootstrap --max-heap-bytes) and Envoy's memory",
		"node", logID(n.ID), "version", t.version, "estimate_bytes", t.memory.Bytes, "max_heap_bytes", n.MaxHeapBytes,
		"routes", t.memory.Routes, "clusters", t.memory.Clusters)
}

// counts returns the ACKs and NACKs seen.
func (t *tracker) counts() (acks, nacks uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.acks, t.nacks
}

// envoyMemory returns a copy of the EnvoyMemory the nodes are checked
// against (nil before the first Publish).
func (t *tracker) envoyMemory() *EnvoyMemory {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.memory == nil {
		return nil
	}
	m := *t.memory
	return &m
}

// snapshot copies the node states, sorted by id (connected ones first when
// there are more than MaxStatusNodes, the list then cut to that), and
// returns the number of nodes tracked.
func (t *tracker) snapshot() ([]NodeStatus, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.prune()
	out := make([]NodeStatus, 0, min(len(t.nodes), MaxStatusNodes))
	for _, n := range t.nodes {
		s := *n
		s.HeapShort = t.memory != nil && t.memory.HeapShort(n.MaxHeapBytes)
		s.Acked = make(map[string]string, len(n.Acked))
		for k, v := range n.Acked {
			s.Acked[k] = v
		}
		if n.LastNACK != nil {
			nack := *n.LastNACK
			s.LastNACK = &nack
		}
		out = append(out, s)
	}
	total := len(out)
	if total > MaxStatusNodes {
		sort.Slice(out, func(i, j int) bool {
			if out[i].Connected != out[j].Connected {
				return out[i].Connected
			}
			return out[i].LastSeen.After(out[j].LastSeen)
		})
		out = out[:MaxStatusNodes]
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, total
}

// OnStreamOpen implements the state-of-the-world server callbacks.
func (t *tracker) OnStreamOpen(_ context.Context, id int64, typeURL string) error {
	t.open(id, typeURL, false)
	return nil
}

// OnStreamClosed implements the state-of-the-world server callbacks.
func (t *tracker) OnStreamClosed(id int64, _ *corev3.Node) { t.closed(id, false) }

// OnStreamRequest implements the state-of-the-world server callbacks. In a
// SotW request, version_info is the last version accepted, and error_detail
// is set on a NACK of the response named by response_nonce.
func (t *tracker) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	if err := t.checkRequest(id, false, req.GetNode()); err != nil {
		return err
	}
	t.request(id, false, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), req.GetVersionInfo(),
		req.GetErrorDetail().GetMessage(), req.GetErrorDetail() != nil)
	return nil
}

// OnStreamResponse implements the state-of-the-world server callbacks.
func (t *tracker) OnStreamResponse(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	t.response(id, false, resp.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
}

// OnDeltaStreamOpen implements the delta server callbacks.
func (t *tracker) OnDeltaStreamOpen(_ context.Context, id int64, typeURL string) error {
	t.open(id, typeURL, true)
	return nil
}

// OnDeltaStreamClosed implements the delta server callbacks.
func (t *tracker) OnDeltaStreamClosed(id int64, _ *corev3.Node) { t.closed(id, true) }

// OnStreamDeltaRequest implements the delta server callbacks. A delta
// request carries no version: the version is that of the response its
// nonce names.
func (t *tracker) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	if err := t.checkRequest(id, true, req.GetNode()); err != nil {
		return err
	}
	t.request(id, true, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), "",
		req.GetErrorDetail().GetMessage(), req.GetErrorDetail() != nil)
	return nil
}

// OnStreamDeltaResponse implements the delta server callbacks.
func (t *tracker) OnStreamDeltaResponse(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	t.response(id, true, resp.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
}

// OnFetchRequest implements the REST callbacks (unused: no REST endpoint).
func (t *tracker) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error { return nil }

// OnFetchResponse implements the REST callbacks (unused: no REST endpoint).
func (t *tracker) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}
