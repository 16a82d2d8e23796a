package token

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

var payloadSeeds = []string{
	`{"iss":"a","sub":"b","exp":1700000000}`,
	` { "iss" : "a" , "aud" : [ "x" , "y" ] , "n" : { "a" : [1,{"b":"}"}] } , "e":"\"}\\" } `,
	`{"\u0069ss":"esc","k\"q":1,"":null,"t":true,"f":false}`,
	`{"exp":1.7e9,"nbf":-1,"iat":0.5,"x":1e400}`,
	`{"s":"\ud83d\ude00 é \u00e9","a":[],"o":{}}`,
	`{}`,
	`[]`,
	`"iss"`,
	`{"a":1,}`,
	`{"a"}`,
	`{"a":"\xff"}`,
	``,
}

// TestScanMatchesEncodingJSON compares the scanner with encoding/json on
// the seeds (FuzzScan does it on generated inputs).
func TestScanMatchesEncodingJSON(t *testing.T) {
	for _, s := range payloadSeeds {
		checkScan(t, []byte(s))
	}
}

func checkScan(t *testing.T, p []byte) {
	t.Helper()
	var pl payload
	why := pl.scan(p)
	var want map[string]json.RawMessage
	err := json.Unmarshal(p, &want)
	if err == nil && want == nil {
		// "null" decodes into a map without error; it is not an object.
		err = errNotObject
	}
	if (why == "") != (err == nil) {
		// encoding/json accepts an object with more members than maxMembers.
		if !(err == nil && len(want) > 0 && why != "" && pl.n == maxMembers) {
			t.Fatalf("scan(%q) = %q, encoding/json: %v", p, why, err)
		}
		return
	}
	if why != "" {
		return
	}
	// Each key's last value equals encoding/json's (it keeps the last).
	last := map[string][]byte{}
	count := map[string]int{}
	for i := 0; i < pl.n; i++ {
		m := pl.member(i)
		last[string(m.key)] = m.val
		count[string(m.key)]++
	}
	if len(last) != len(want) {
		t.Fatalf("scan(%q): %d distinct keys, encoding/json %d", p, len(last), len(want))
	}
	for k, v := range want {
		got, ok := last[k]
		if !ok || string(got) != string(v) {
			t.Fatalf("scan(%q)[%q] = %q, encoding/json %q", p, k, got, v)
		}
		if string(v) == "null" {
			if g, _ := pl.get(k); g != nil && count[k] == 1 {
				t.Fatalf("get(%q) returned null", k)
			}
			continue
		}
		// Value decoders agree with encoding/json.
		var s string
		if json.Unmarshal(v, &s) == nil {
			if g, ok := jsonString(got); !ok || g != s {
				t.Fatalf("jsonString(%q) = %q, %v; want %q", got, g, ok, s)
			}
		} else if _, ok := jsonString(got); ok {
			t.Fatalf("jsonString(%q) accepted a non-string", got)
		}
		var f float64
		if json.Unmarshal(v, &f) == nil {
			tm, ok := numericDate(got)
			if !ok {
				t.Fatalf("numericDate(%q) refused a number", got)
			}
			f = math.Max(-maxNumericDate, math.Min(maxNumericDate, f))
			if d := tm.Sub(time.Unix(0, 0)).Seconds() - f; math.Abs(d) > 1e-3*math.Max(1, math.Abs(f)/1e9) && math.Abs(f) < 9e9 {
				t.Fatalf("numericDate(%q) = %v, want %v", got, tm, f)
			}
		} else if _, ok := numericDate(got); ok && !isBigNumber(v) {
			t.Fatalf("numericDate(%q) accepted a non-number", got)
		}
		var list []string
		if json.Unmarshal(v, &list) == nil || json.Unmarshal(v, &s) == nil {
			if _, ok := audienceMatch(got, []string{"x"}); !ok {
				t.Fatalf("audienceMatch(%q) refused a valid aud", got)
			}
		} else if _, ok := audienceMatch(got, []string{"x"}); ok && string(v) != "null" {
			t.Fatalf("audienceMatch(%q) accepted an invalid aud", got)
		}
	}
}

var errNotObject = errors.New("not an object")

// isBigNumber reports a JSON number encoding/json cannot hold in a float64
// (such as 1e400); numericDate clamps those.
func isBigNumber(v []byte) bool {
	var n json.Number
	return json.Unmarshal(v, &n) == nil
}

func TestNumericDate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"1700000000", time.Unix(1700000000, 0), true},
		{"0", time.Unix(0, 0), true},
		{"-5", time.Unix(-5, 0), true},
		{"1700000000.5", time.Unix(1700000000, 5e8), true},
		{"1.7e9", time.Unix(1700000000, 0), true},
		{"1e400", time.Unix(1e12, 0), true},
		{"-1e400", time.Unix(-1e12, 0), true},
		{"999999999999999999999", time.Unix(1e12, 0), true},
		{`"1700000000"`, time.Time{}, false},
		{"true", time.Time{}, false},
		{"null", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, ok := numericDate([]byte(c.in))
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("numericDate(%s) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestClaimText(t *testing.T) {
	for in, want := range map[string]string{
		`"acme"`: "acme", `"a\"b"`: `a"b`, `12`: "12", `-1.5e3`: "-1.5e3",
		`null`: "", `true`: "", `{"a":1}`: "", `[1]`: "", ``: "",
	} {
		if got := claimText([]byte(in)); got != want {
			t.Errorf("claimText(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestScanLimits(t *testing.T) {
	b := []byte("{")
	for i := 0; i <= maxMembers; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `"k":1`...)
	}
	b = append(b, '}')
	var pl payload
	if why := pl.scan(b); why == "" {
		t.Fatal("too many members accepted")
	}
	// Duplicates are reported.
	if why := pl.scan([]byte(`{"a":1,"b":2,"a":3}`)); why != "" {
		t.Fatal(why)
	}
	if v, dup := pl.get("a"); !dup || string(v) != "1" {
		t.Fatalf("get(a) = %s, %v", v, dup)
	}
	if v, dup := pl.get("b"); dup || string(v) != "2" {
		t.Fatalf("get(b) = %s, %v", v, dup)
	}
	if v, _ := pl.get("c"); v != nil {
		t.Fatal("get(c)")
	}
}
