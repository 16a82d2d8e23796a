package xds

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apigwio/apigw/internal/model"
)

// Cluster name prefixes. Clusters are shared by every route with the same
// backend, so their names depend only on what defines the connection.
const (
	// urlClusterPrefix + "<scheme>.<host>.<port>" is the cluster of a URL
	// backend, e.g. "url.https.api.example.com.443".
	urlClusterPrefix = "url."
	// channelClusterPrefix + "<channel>" is the cluster of a channel.
	channelClusterPrefix = "channel."
)

// Health check defaults (the config package fills them in too).
const (
	defaultHealthInterval = 10 * time.Second
	defaultHealthTimeout  = 5 * time.Second
)

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// urlCluster returns the cluster of a URL backend, creating it on first use,
// and the Host header the backend expects (host[:port] as in the URL).
//
// An IP host gives a STATIC cluster. A name gives a LOGICAL_DNS cluster:
// Envoy resolves it asynchronously and connects to the first address (IPv4
// preferred), which suits names that front many servers (load balancers,
// CDNs) better than STRICT_DNS, which would track every address. https adds
// TLS with SNI = host (no SNI for an IP).
func (t *translator) urlCluster(u *url.URL) (name, host string, err error) {
	if u == nil {
		return "", "", fmt.Errorf("URL backend without a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "", fmt.Errorf("backend URL scheme %q is not http or https", u.Scheme)
	}
	hostname := u.Hostname()
	if hostname == "" {
		return "", "", fmt.Errorf("backend URL %q has no host", u.Redacted())
	}
	port := uint32(80)
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return "", "", fmt.Errorf("backend URL %q has an invalid port", u.Redacted())
		}
		port = uint32(n)
	}
	name = urlClusterPrefix + u.Scheme + "." + hostname + "." + strconv.FormatUint(uint64(port), 10)
	if t.clusters[name] != nil {
		return name, u.Host, nil
	}
	_, ipErr := netip.ParseAddr(hostname)
	isIP := ipErr == nil
	c := &clusterv3.Cluster{
		Name:           name,
		ConnectTimeout: durationpb.New(t.opts.ConnectTimeout),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{
				lbEndpoint(hostname, port, 0),
			}}},
		},
	}
	if isIP {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	} else {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS}
		c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
	}
	if u.Scheme == "https" {
		sni := hostname
		if isIP {
			sni = ""
		}
		c.TransportSocket = t.upstreamTLS(sni, []string{hostname})
	}
	t.clusters[name] = c
	return name, u.Host, nil
}

// channelCluster returns the cluster of a channel, creating it on first use.
// A channel whose members are all IP addresses is an EDS cluster whose
// ClusterLoadAssignment is served over ADS (a membership change then only
// updates EDS). EDS endpoints must be addresses, so a channel with a host
// name member is a STRICT_DNS cluster with the same weighted endpoints
// inline, each name resolved and health-checked on its own.
func (t *translator) channelCluster(ch *model.Channel) (string, error) {
	name := channelClusterPrefix + ch.Name
	if t.clusters[name] != nil {
		return name, nil
	}
	if len(ch.Members) == 0 {
		return "", fmt.Errorf("channel %q has no members", ch.Name)
	}
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	locality := &endpointv3.LocalityLbEndpoints{}
	allIP := true
	for i, m := range ch.Members {
		if m.Host == "" || m.Port == 0 || m.Port > 65535 {
			return "", fmt.Errorf("channel %q member %d: %q port %d is not host:port", ch.Name, i, m.Host, m.Port)
		}
		if _, err := netip.ParseAddr(m.Host); err != nil {
			allIP = false
		}
		locality.LbEndpoints = append(locality.LbEndpoints, lbEndpoint(m.Host, m.Port, max(m.Weight, 1)))
	}
	cla.Endpoints = []*endpointv3.LocalityLbEndpoints{locality}
	c := &clusterv3.Cluster{
		Name:           name,
		ConnectTimeout: durationpb.New(t.opts.ConnectTimeout),
		LbPolicy:       lbPolicy(ch.LBPolicy),
	}
	if allIP {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsConfigSource(), ServiceName: name}
		t.endpoints[name] = cla
	} else {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
		c.LoadAssignment = cla
	}
	if hc := ch.HealthCheck; hc != nil {
		c.HealthChecks = []*corev3.HealthCheck{healthCheck(hc)}
	}
	if ch.TLS {
		hosts := map[string]bool{}
		for _, m := range ch.Members {
			hosts[m.Host] = true
		}
		c.TransportSocket = t.upstreamTLS("", slices.Sorted(maps.Keys(hosts)))
	}
	t.clusters[name] = c
	return name, nil
}

func lbPolicy(p model.LBPolicy) clusterv3.Cluster_LbPolicy {
	switch p {
	case model.LBLeastRequest:
		return clusterv3.Cluster_LEAST_REQUEST
	case model.LBRandom:
		return clusterv3.Cluster_RANDOM
	case model.LBRingHash:
		return clusterv3.Cluster_RING_HASH
	}
	return clusterv3.Cluster_ROUND_ROBIN
}

func healthCheck(hc *model.HealthCheck) *corev3.HealthCheck {
	interval, timeout := hc.Interval, hc.Timeout
	if interval <= 0 {
		interval = defaultHealthInterval
	}
	if timeout <= 0 {
		timeout = defaultHealthTimeout
	}
	path := hc.Path
	if path == "" {
		path = "/"
	}
	return &corev3.HealthCheck{
		Timeout:  durationpb.New(timeout),
		Interval: durationpb.New(interval),
		// Envoy checks a cluster that has had no traffic yet every 60 s
		// (no_traffic_interval) and only switches to interval after the
		// next check: a member that failed in the first minute stayed in
		// rotation that long (seen with Envoy 1.40, 1 s interval). The
		// configured interval applies from the start.
		NoTrafficInterval:  durationpb.New(interval),
		HealthyThreshold:   wrapperspb.UInt32(max(hc.HealthyThreshold, 1)),
		UnhealthyThreshold: wrapperspb.UInt32(max(hc.UnhealthyThreshold, 1)),
		HealthChecker: &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: &corev3.HealthCheck_HttpHealthCheck{
			Path: path,
		}},
	}
}

// lbEndpoint is one endpoint; weight 0 leaves the weight unset.
func lbEndpoint(host string, port, weight uint32) *endpointv3.LbEndpoint {
	e := &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
		Address: socketAddress(host, port),
	}}}
	if weight > 0 {
		e.LoadBalancingWeight = wrapperspb.UInt32(weight)
	}
	return e
}

// upstreamTLS is a TLS transport socket with an optional SNI, verifying
// the backend certificate as Settings.BackendTLS says: it must chain to the
// CAs of the CA file and name one of hosts (a DNS or IP-address subject
// alternative name). (Envoy's system_root_certs is not implemented by
// Envoy, and Envoy refuses SAN matching without trusted CAs, so a CA file
// is always given.)
func (t *translator) upstreamTLS(sni string, hosts []string) *corev3.TransportSocket {
	tc := &tlsv3.UpstreamTlsContext{Sni: sni}
	if bt := t.snap.Settings.BackendTLS; !bt.InsecureSkipVerify {
		ca := bt.CAFile
		if ca == "" {
			ca = model.DefaultBackendCAFile
		}
		vc := &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: ca}},
		}
		for _, h := range hosts {
			san := tlsv3.SubjectAltNameMatcher_DNS
			if _, err := netip.ParseAddr(h); err == nil {
				san = tlsv3.SubjectAltNameMatcher_IP_ADDRESS
			}
			vc.MatchTypedSubjectAltNames = append(vc.MatchTypedSubjectAltNames, &tlsv3.SubjectAltNameMatcher{
				SanType: san,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: h}},
			})
		}
		tc.CommonTlsContext = &tlsv3.CommonTlsContext{ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}}
		if t.snap.Settings.BackendTLS.ClientCertificate != nil {
			// Two-way TLS: the client certificate from SDS, presented to
			// backends that ask for one.
			tc.CommonTlsContext.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sdsSecret(BackendClientSecret)}
		}
	}
	return &corev3.TransportSocket{
		Name:       "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: t.pack(tc)},
	}
}

// authzCluster adds the cluster of the Check service: HTTP/2 to
// Server.AdvertiseAddress, STATIC for an IP, STRICT_DNS for a name. Port 0
// (a listen address whose port is picked at start, without an advertise
// address) is accepted but unreachable; Publish warns about it.
func (t *translator) authzCluster() {
	host, portStr, err := net.SplitHostPort(t.snap.Server.AdvertiseAddress)
	port, perr := strconv.ParseUint(portStr, 10, 16)
	if err != nil || host == "" || perr != nil {
		t.fail("server: advertise address %q is not host:port", t.snap.Server.AdvertiseAddress)
		return
	}
	c := &clusterv3.Cluster{
		Name:           AuthzCluster,
		ConnectTimeout: durationpb.New(t.opts.AuthzConnectTimeout),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: AuthzCluster,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{
				lbEndpoint(host, uint32(port), 0),
			}}},
		},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			httpProtocolOptionsKey: t.pack(&upstreamhttpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
				}},
			}),
		},
	}
	if _, err := netip.ParseAddr(host); err == nil {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	} else {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
	}
	if st := t.snap.Server.TLS; st != nil {
		c.TransportSocket = t.grpcPortTLS(st)
	}
	t.clusters[AuthzCluster] = c
}
