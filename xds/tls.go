package xds

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apigwio/apigw/internal/model"
)

// Names of the TLS listener and of the secrets served over SDS.
const (
	// TLSListenerName is the listener on listener.tls_port: one filter
	// chain per group with tls, chosen by SNI.
	TLSListenerName = "apigw_https"
	// secretPrefix + "group.<group>" is a group's certificate and key;
	// secretPrefix + "group.<group>.client_ca" its client CA;
	// BackendClientSecret the client certificate towards https backends.
	secretPrefix = "apigw."
	// BackendClientSecret is the SDS secret of
	// settings.backend_tls.client_certificate.
	BackendClientSecret = secretPrefix + "backend_client_certificate"
	// ListenerFilterTLSInspector reads the SNI of the ClientHello.
	ListenerFilterTLSInspector = "envoy.filters.listener.tls_inspector"
	transportSocketTLS         = "envoy.transport_sockets.tls"
)

// GroupCertSecret is the SDS secret name of a group's certificate.
func GroupCertSecret(group string) string { return secretPrefix + "group." + group }

// GroupClientCASecret is the SDS secret name of a group's client CA.
func GroupClientCASecret(group string) string { return GroupCertSecret(group) + ".client_ca" }

// sdsSecret points at a secret served over the ADS stream.
func sdsSecret(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: adsConfigSource()}
}

// tlsListener builds the listener on Listener.TLSPort (nil when there is
// none): the tls_inspector listener filter, then one filter chain per
// group with tls, matched by SNI on the group's domains, terminating TLS
// with the group's certificate (and, with a client CA, requiring a client
// certificate it signed), and then the same HTTP connection manager as
// the plain listener plain. A ClientHello whose SNI names no such group
// (or has none) finds no filter chain: Envoy closes the connection.
func (t *translator) tlsListener(plain *listenerv3.Listener) *listenerv3.Listener {
	l := t.snap.Listener
	if l.TLSPort == 0 || plain == nil {
		return nil
	}
	if l.TLSPort > 65535 {
		t.fail("listener: TLS port %d is not a port", l.TLSPort)
		return nil
	}
	hcm := plain.GetFilterChains()[0].GetFilters()
	out := &listenerv3.Listener{
		Name:                          TLSListenerName,
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(PerConnectionBufferLimitBytes),
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address:       plain.GetAddress().GetSocketAddress().GetAddress(),
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: l.TLSPort},
		}}},
		ListenerFilters: []*listenerv3.ListenerFilter{{
			Name:       ListenerFilterTLSInspector,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: t.pack(&tlsinspectorv3.TlsInspector{})},
		}},
	}
	for _, g := range t.snap.Groups {
		if g == nil || g.TLS == nil {
			continue
		}
		names := make([]string, 0, len(g.Domains))
		for _, d := range g.Domains {
			names = append(names, strings.ToLower(d))
		}
		out.FilterChains = append(out.FilterChains, &listenerv3.FilterChain{
			Name:             GroupCertSecret(g.Name),
			FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: names},
			Filters:          hcm,
			TransportSocket: &corev3.TransportSocket{
				Name:       transportSocketTLS,
				ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: t.pack(downstreamTLS(g))},
			},
		})
	}
	if len(out.FilterChains) == 0 {
		// Envoy refuses a listener without filter chains; a TLS port
		// without a TLS group serves nothing.
		return nil
	}
	return out
}

// downstreamTLS is the TLS context of a group's filter chain: its
// certificate from SDS, TLS 1.2 or later, HTTP/2 and HTTP/1.1 by ALPN,
// and with a client CA a verified client certificate required.
func downstreamTLS(g *model.Group) *tlsv3.DownstreamTlsContext {
	ctx := &tlsv3.DownstreamTlsContext{
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsSecret(GroupCertSecret(g.Name))},
			AlpnProtocols:                  []string{"h2", "http/1.1"},
		},
	}
	if g.TLS.ClientCAFile != "" {
		ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: sdsSecret(GroupClientCASecret(g.Name)),
		}
		ctx.RequireClientCertificate = wrapperspb.Bool(true)
	}
	return ctx
}
