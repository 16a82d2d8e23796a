package ratelimit

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MarshalEnvoyRatelimitYAML returns the envoyproxy/ratelimit configuration
// file equivalent to c: the domain and the nested descriptors (key, value,
// rate_limit{name, unit, requests_per_unit}, descriptors), so that a team
// running envoyproxy/ratelimit can serve the same descriptors. The output is
// deterministic (configuration order). It fails if c does not validate.
func (c *Config) MarshalEnvoyRatelimitYAML() ([]byte, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("rate-limit config is invalid: %w", errors.Join(errs...))
	}
	var b bytes.Buffer
	b.WriteString("domain: ")
	b.WriteString(yamlString(c.Domain))
	b.WriteByte('\n')
	if len(c.Descriptors) == 0 {
		b.WriteString("descriptors: []\n")
		return b.Bytes(), nil
	}
	b.WriteString("descriptors:\n")
	writeDescriptors(&b, c.Descriptors, "  ")
	return b.Bytes(), nil
}

func writeDescriptors(b *bytes.Buffer, ds []*Descriptor, indent string) {
	in := indent + "  " // the fields of a list item
	for _, d := range ds {
		b.WriteString(indent)
		b.WriteString("- key: ")
		b.WriteString(yamlString(d.Key))
		b.WriteByte('\n')
		if d.Value != "" {
			fmt.Fprintf(b, "%svalue: %s\n", in, yamlString(d.Value))
		}
		if l := d.Limit; l != nil {
			fmt.Fprintf(b, "%srate_limit:\n", in)
			if l.Name != "" {
				fmt.Fprintf(b, "%s  name: %s\n", in, yamlString(l.Name))
			}
			fmt.Fprintf(b, "%s  unit: %s\n", in, l.Unit)
			fmt.Fprintf(b, "%s  requests_per_unit: %d\n", in, l.Requests)
		}
		if len(d.Children) > 0 {
			fmt.Fprintf(b, "%sdescriptors:\n", in)
			writeDescriptors(b, d.Children, in+"  ")
		}
	}
}

// yamlString writes s as a plain scalar when it is an unambiguous string
// in YAML 1.1 and 1.2, else double-quoted. Go's quoting is valid YAML for
// valid UTF-8, which Validate guarantees.
func yamlString(s string) string {
	if plainYAML(s) {
		return s
	}
	return strconv.Quote(s)
}

func plainYAML(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
		return false // digits (numbers), '-', '.', indicators...
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '/') {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf":
		return false
	}
	return true
}
