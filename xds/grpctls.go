package xds

import (
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/apigwio/apigw/internal/model"
)

// grpcPortTLS is the transport socket of the apigw_authz cluster when the
// gRPC port has TLS (server.tls): Envoy verifies the port's certificate
// against EnvoyCAFile and ServerName (a DNS or IP SAN; sent as SNI when it
// is a name), offers HTTP/2 by ALPN (grpc-go requires it), and presents
// its client certificate for mTLS.
func (t *translator) grpcPortTLS(st *model.ServerTLS) *corev3.TransportSocket {
	return &corev3.TransportSocket{
		Name:       "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: t.pack(grpcPortTLSContext(st))},
	}
}

func grpcPortTLSContext(st *model.ServerTLS) *tlsv3.UpstreamTlsContext {
	san := tlsv3.SubjectAltNameMatcher_DNS
	sni := st.ServerName
	if _, err := netip.ParseAddr(st.ServerName); err == nil {
		san, sni = tlsv3.SubjectAltNameMatcher_IP_ADDRESS, ""
	}
	ctx := &tlsv3.CommonTlsContext{
		AlpnProtocols: []string{"h2"},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: st.EnvoyCAFile}},
			MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
				SanType: san,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: st.ServerName}},
			}},
		}},
	}
	if st.EnvoyCertFile != "" {
		ctx.TlsCertificates = []*tlsv3.TlsCertificate{{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: st.EnvoyCertFile}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: st.EnvoyKeyFile}},
		}}
	}
	return &tlsv3.UpstreamTlsContext{Sni: sni, CommonTlsContext: ctx}
}
