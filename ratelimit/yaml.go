package ratelimit

import (
	"errors"
	"fmt"

	"sigs.k8s.io/yaml"
)

// envoyDoc is the envoyproxy/ratelimit configuration file format.
type envoyDoc struct {
	Domain      string      `json:"domain"`
	Descriptors []envoyDesc `json:"descriptors"`
}

type envoyDesc struct {
	Key         string      `json:"key"`
	Value       string      `json:"value,omitempty"`
	RateLimit   *envoyLimit `json:"rate_limit,omitempty"`
	Descriptors []envoyDesc `json:"descriptors,omitempty"`
}

type envoyLimit struct {
	Name            string `json:"name,omitempty"`
	Unit            string `json:"unit"`
	RequestsPerUnit uint32 `json:"requests_per_unit"`
}

func envoyDescs(ds []*Descriptor) []envoyDesc {
	out := make([]envoyDesc, 0, len(ds))
	for _, d := range ds {
		e := envoyDesc{Key: d.Key, Value: d.Value}
		if len(d.Children) > 0 {
			e.Descriptors = envoyDescs(d.Children)
		}
		if l := d.Limit; l != nil {
			e.RateLimit = &envoyLimit{Name: l.Name, Unit: l.Unit.String(), RequestsPerUnit: l.Requests}
		}
		out = append(out, e)
	}
	return out
}

// MarshalEnvoyRatelimitYAML returns the envoyproxy/ratelimit configuration
// file equivalent to c: the domain and the nested descriptors (key, value,
// rate_limit{name, unit, requests_per_unit}, descriptors), so that a team
// running envoyproxy/ratelimit can serve the same descriptors. The output is
// deterministic: descriptors in configuration order, the keys of each
// mapping sorted (sigs.k8s.io/yaml). It fails if c does not validate.
func (c *Config) MarshalEnvoyRatelimitYAML() ([]byte, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("rate-limit config is invalid: %w", errors.Join(errs...))
	}
	return yaml.Marshal(envoyDoc{Domain: c.Domain, Descriptors: envoyDescs(c.Descriptors)})
}
