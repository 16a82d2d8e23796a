package etcdstore

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Target is a parsed store URL.
type Target struct {
	// Endpoints are the members' client URLs (http://HOST:PORT, or https://
	// for etcds://).
	Endpoints []string
	// Prefix is the key prefix, "/" + PREFIX + "/".
	Prefix string
	// TLS is true for etcds://.
	TLS bool
}

// ParseURL parses etcd://HOST:PORT[,HOST:PORT...]/PREFIX, or etcds:// for
// TLS. PREFIX may hold several segments (a/b); it is required, so that
// apigw's keys never share the root of the keyspace with anything else.
// Credentials in the URL are refused (they would end up in shell history
// and process lists): use Options.Username and Options.Password.
func ParseURL(s string) (*Target, error) {
	var t Target
	rest, ok := strings.CutPrefix(s, "etcd://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "etcds://"); !ok {
			return nil, errors.New("store URL must start with etcd:// or etcds:// (etcd://HOST:PORT[,HOST:PORT...]/PREFIX)")
		}
		t.TLS = true
	}
	hosts, prefix, _ := strings.Cut(rest, "/")
	if strings.Contains(hosts, "@") {
		return nil, errors.New("store URL must not hold credentials: give the user with --store-user and the password in APIGW_STORE_PASSWORD")
	}
	if hosts == "" {
		return nil, errors.New("store URL has no HOST:PORT (etcd://HOST:PORT[,HOST:PORT...]/PREFIX)")
	}
	scheme := "http://"
	if t.TLS {
		scheme = "https://"
	}
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return nil, fmt.Errorf("store URL: %q is not HOST:PORT", h)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("store URL: %q has an invalid port", h)
		}
		t.Endpoints = append(t.Endpoints, scheme+net.JoinHostPort(host, port))
	}
	if strings.ContainsAny(prefix, "?#") {
		return nil, errors.New("store URL: the prefix must not hold ? or #")
	}
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return nil, errors.New("store URL has no key prefix (etcd://HOST:PORT/PREFIX, for instance etcd://127.0.0.1:2379/apigw)")
	}
	for _, seg := range strings.Split(prefix, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return nil, fmt.Errorf("store URL: invalid prefix %q", prefix)
		}
	}
	t.Prefix = "/" + prefix + "/"
	return &t, nil
}
