package config

import (
	"strings"
	"testing"
)

func TestServerTLS(t *testing.T) {
	base := "groups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: \"http://10.0.0.1\"}}]}]\n"
	snap, err := Load("ok.yaml", []byte(`server:
  advertise_address: apigw.svc:18000
  tls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem, envoy_ca_file: /e/ca.pem, envoy_cert_file: /e/c.pem, envoy_key_file: /e/k.pem}
`+base), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st := snap.Server.TLS; st == nil || st.ServerName != "apigw.svc" || st.ClientCAFile != "ca.pem" || st.EnvoyKeyFile != "/e/k.pem" {
		t.Errorf("server TLS %+v", st)
	}
	for cfg, want := range map[string]string{
		`tls: {key_file: k.pem, envoy_ca_file: /e/ca.pem}`:                         "cert_file and key_file are both required",
		`tls: {cert_file: c.pem, key_file: k.pem}`:                                 "envoy_ca_file: required",
		`tls: {cert_file: c.pem, key_file: k.pem, envoy_ca_file: ca.pem}`:          "not an absolute path",
		`tls: {cert_file: c, key_file: k, client_ca_file: ca, envoy_ca_file: /ca}`: "needs envoy_cert_file and envoy_key_file",
	} {
		_, err := Load("bad.yaml", []byte("server:\n  "+cfg+"\n"+base), Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", cfg, err, want)
		}
	}
}
