package ratelimit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseUnit(t *testing.T) {
	tests := []struct {
		in      string
		want    Unit
		window  time.Duration
		wantErr bool
	}{
		{"second", Second, time.Second, false},
		{"minute", Minute, time.Minute, false},
		{"hour", Hour, time.Hour, false},
		{"day", Day, 24 * time.Hour, false},
		{"SECOND", Second, time.Second, false},
		{"Minute", Minute, time.Minute, false},
		{"", 0, 0, true},
		{"week", 0, 0, true},
		{"seconds", 0, 0, true},
	}
	for _, tt := range tests {
		got, err := ParseUnit(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseUnit(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			continue
		}
		if got.Window() != tt.window {
			t.Errorf("%v.Window() = %v, want %v", got, got.Window(), tt.window)
		}
		if !tt.wantErr && got.String() != strings.ToLower(tt.in) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	if s := Unit(9).String(); s != "unit(9)" {
		t.Errorf("Unit(9).String() = %q", s)
	}
}

func TestValidate(t *testing.T) {
	lim := &Limit{Requests: 1, Unit: Second}
	tests := []struct {
		name string
		cfg  *Config
		want []string // one substring per expected error, in order
	}{
		{"valid", testConfig(), nil},
		{"nil config", nil, []string{"config is nil"}},
		{"empty domain", &Config{}, []string{"domain: must not be empty"}},
		{"every bad entry", &Config{Domain: "d", Descriptors: []*Descriptor{
			{Key: "", Limit: lim},
			{Key: "a", Limit: &Limit{Requests: 0, Unit: Minute}},
			{Key: "b", Limit: &Limit{Requests: 3, Unit: Unit(0)}},
			{Key: "c", Limit: &Limit{Requests: 0, Unit: Unit(42)}},
			nil,
			{Key: "a", Value: "x"},
			{Key: "a", Limit: lim},
			{Key: "e", Value: "pre*"},
			{Key: "f", Children: []*Descriptor{
				{Key: "g", Value: "v", Limit: lim},
				{Key: "g", Value: "v", Limit: lim},
				{Key: "h", Limit: &Limit{Requests: 0, Unit: Hour}},
			}},
		}}, []string{
			"descriptors[0]: key must not be empty",
			`descriptors[1] (key "a"): limit requests must be greater than 0`,
			`descriptors[2] (key "b"): limit unit unit(0) is unknown`,
			`descriptors[3] (key "c"): limit requests must be greater than 0`,
			`descriptors[3] (key "c"): limit unit unit(42) is unknown`,
			"descriptors[4]: descriptor is nil",
			`descriptors[6]: duplicates descriptors[1] (key "a", any value)`,
			`descriptors[7] (key "e"): value "pre*" ends with '*'`,
			`descriptors[8].children[1]: duplicates descriptors[8].children[0] (key "g", value "v")`,
			`descriptors[8].children[2] (key "h"): limit requests must be greater than 0`,
		}},
		{"invalid utf-8", &Config{Domain: "\xff", Descriptors: []*Descriptor{
			{Key: "k\xfe", Value: "\xfd", Limit: &Limit{Name: "\xfc", Requests: 1, Unit: Day}},
		}}, []string{
			"domain: must be valid UTF-8",
			"descriptors[0]: key must be valid UTF-8",
			"value must be valid UTF-8",
			"limit name must be valid UTF-8",
		}},
		{"too deep", &Config{Domain: "d", Descriptors: deepTree(maxDepth + 1)}, []string{
			"descriptors nest deeper than 16 levels",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.cfg.Validate()
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), errors.Join(errs...))
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w)
				}
			}
		})
	}
}

func deepTree(depth int) []*Descriptor {
	var ds []*Descriptor
	for range depth {
		ds = []*Descriptor{{Key: "k", Children: ds}}
	}
	return ds
}

func TestMatch(t *testing.T) {
	cfg := testConfig()
	tests := []struct {
		name    string
		entries []Entry
		want    string // limit name; "" for no limit
		key     string
	}{
		{"api", []Entry{{"generic_key", "api-1"}}, "api-1", "apigw|generic_key=api-1"},
		{"other api: wildcard", []Entry{{"generic_key", "api-2"}}, "any-api", "apigw|generic_key=api-2"},
		{"api+user wildcard", []Entry{{"generic_key", "api-1"}, {"user", "alice"}}, "api-1-user", "apigw|generic_key=api-1|user=alice"},
		{"api+user exact beats wildcard", []Entry{{"generic_key", "api-1"}, {"user", "vip"}}, "api-1-user-vip", "apigw|generic_key=api-1|user=vip"},
		{"api+app", []Entry{{"generic_key", "api-1"}, {"app", "shop"}}, "api-1-app", "apigw|generic_key=api-1|app=shop"},
		{"api+app exact", []Entry{{"generic_key", "api-1"}, {"app", "partner"}}, "api-1-app-partner", "apigw|generic_key=api-1|app=partner"},
		{"api+ip", []Entry{{"generic_key", "api-1"}, {"remote_address", "2001:db8::1"}}, "api-1-ip", "apigw|generic_key=api-1|remote_address=2001:db8::1"},
		{"api+exempt ip: node without limit", []Entry{{"generic_key", "api-1"}, {"remote_address", "10.0.0.1"}}, "", ""},
		{"other api has no children", []Entry{{"generic_key", "api-2"}, {"user", "alice"}}, "", ""},
		{"too deep", []Entry{{"generic_key", "api-1"}, {"user", "alice"}, {"x", "y"}}, "", ""},
		{"order matters", []Entry{{"user", "alice"}, {"generic_key", "api-1"}}, "", ""},
		{"unknown key", []Entry{{"header_match", "x"}}, "", ""},
		{"no entries", nil, "", ""},
		{"escaped value", []Entry{{"generic_key", "a|b=c%d#e f\n"}}, "any-api", "apigw|generic_key=a%7Cb%3Dc%25d%23e%20f%0A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, key := cfg.Match(tt.entries)
			name := ""
			if l != nil {
				name = l.Name
			}
			if name != tt.want || key != tt.key {
				t.Errorf("Match = %q, %q; want %q, %q", name, key, tt.want, tt.key)
			}
		})
	}
	var nilCfg *Config
	if l, k := nilCfg.Match([]Entry{{"a", "b"}}); l != nil || k != "" {
		t.Error("nil config matched")
	}
}

func TestCounterKeyBounded(t *testing.T) {
	huge := strings.Repeat("v", 1<<20)
	cfg := testConfig()
	tests := []struct {
		name   string
		value  string
		hashed bool
	}{
		{"short", "alice", false},
		{"64 bytes", strings.Repeat("a", 64), false},
		{"65 bytes", strings.Repeat("a", 65), true},
		{"22 bytes escaping to 66", strings.Repeat("|", 22), true},
		{"1 MiB", huge, true},
		{"binary", "\x00\xff\x01", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, key := cfg.Match([]Entry{{"generic_key", "api-1"}, {"user", tt.value}})
			v := strings.TrimPrefix(key, "apigw|generic_key=api-1|user=")
			if strings.HasPrefix(v, "#") != tt.hashed {
				t.Fatalf("key %q: hashed = %v, want %v", key, !tt.hashed, tt.hashed)
			}
			if len(v) > MaxValueLen {
				t.Fatalf("value part is %d bytes", len(v))
			}
			if tt.hashed && len(v) != hashedValueLen {
				t.Fatalf("hashed value %q is %d bytes, want %d", v, len(v), hashedValueLen)
			}
			for i := 0; i < len(key); i++ {
				if key[i] < 0x21 || key[i] > 0x7e {
					t.Fatalf("key %q has byte %#x", key, key[i])
				}
			}
		})
	}
	// Different long values get different keys; equal values the same.
	_, k1 := cfg.Match([]Entry{{"generic_key", "api-1"}, {"user", huge}})
	_, k2 := cfg.Match([]Entry{{"generic_key", "api-1"}, {"user", huge + "x"}})
	_, k3 := cfg.Match([]Entry{{"generic_key", "api-1"}, {"user", strings.Clone(huge)}})
	if k1 == k2 || k1 != k3 {
		t.Errorf("hashed keys: %q %q %q", k1, k2, k3)
	}
}

// TestCounterKeyInjective checks that separators inside values cannot make
// two different descriptors share a counter.
func TestCounterKeyInjective(t *testing.T) {
	pairs := [][2][]Entry{
		{{{"a", "b|c=d"}}, {{"a", "b"}, {"c", "d"}}},
		{{{"a", "%7C"}}, {{"a", "|"}}},
		{{{"a", "#x"}}, {{"a", "%23x"}}},
		{{{"a=b", "c"}}, {{"a", "b=c"}}},
	}
	for _, p := range pairs {
		if k1, k2 := counterKey("d", p[0]), counterKey("d", p[1]); k1 == k2 {
			t.Errorf("%v and %v share key %q", p[0], p[1], k1)
		}
	}
}

func TestWindowStart(t *testing.T) {
	tests := []struct{ now, w, want int64 }{
		{0, 60, 0},
		{59, 60, 0},
		{60, 60, 60},
		{1_772_366_410, 60, 1_772_366_400},
		{1_772_366_410, 86400, 1_772_323_200},
		{-1, 60, -60},
		{5, 1, 5},
	}
	for _, tt := range tests {
		if got := windowStart(tt.now, tt.w); got != tt.want {
			t.Errorf("windowStart(%d, %d) = %d, want %d", tt.now, tt.w, got, tt.want)
		}
	}
	if windowSeconds(0) != 1 || windowSeconds(1500*time.Millisecond) != 1 || windowSeconds(time.Hour) != 3600 {
		t.Error("windowSeconds")
	}
}
