package bodyschema

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"
)

// The body is decoded with goccy/go-json (decode, in bodyschema.go): it
// must accept and refuse what encoding/json does, and give the same value.
func TestDecodersAgree(t *testing.T) {
	for _, in := range []string{
		``, ` `, `{}`, `{} `, `{} x`, `{}{}`, `[]`, `null`, `true`, `1`, `-0`, `1e400`, `-1e400`, `1.5e-400`, `01`, `1.`, `.5`, `+1`, `NaN`,
		`"\ud800"`, `"\ud800\udc00"`, `"a\u0000b"`, "\"\xff\"", "\"a\xc3\"", `"\x"`, "\"\t\"", `{"a":1,"a":2}`, `{"a":1,}`, `[1,]`, `{'a':1}`,
		"\xef\xbb\xbf{}", `{"a":[1,2,{"b":null}]}`, `{"a"}`, `{"a":}`, `[`, `{"a":1`, `"abc`, `tru`, `nul`, `falsey`, `123abc`,
		`{"\u00e9":"\u00E9"}`, `"\/"`, `9007199254740993`, `1E5`, `-`, `--1`, `[1 2]`, `{"a":1 "b":2}`, "[\n1\r\n]",
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001), strings.Repeat("[", 9999) + strings.Repeat("]", 9999),
	} {
		var a, b any
		ea := json.Unmarshal([]byte(in), &a)
		eb := gojson.Unmarshal([]byte(in), &b)
		if (ea == nil) != (eb == nil) || ea == nil && !reflect.DeepEqual(a, b) {
			t.Errorf("%q: std %v %#v, goccy %v %#v", in, ea, a, eb, b)
		}
	}
}

func FuzzDecodersAgree(f *testing.F) {
	f.Add([]byte(`{"a":[1,"x",{"b":null}]}`))
	f.Add(petBody())
	f.Fuzz(func(t *testing.T, in []byte) {
		var a, b any
		ea := json.Unmarshal(in, &a)
		eb := gojson.Unmarshal(in, &b)
		if (ea == nil) != (eb == nil) || ea == nil && !reflect.DeepEqual(a, b) {
			t.Errorf("%q: std %v %#v, goccy %v %#v", in, ea, a, eb, b)
		}
	})
}

// BenchmarkDecode1KiB compares the decoders on the 1 KiB body.
func BenchmarkDecode1KiB(b *testing.B) {
	body := petBody()
	for _, d := range []struct {
		name string
		f    func([]byte, any) error
	}{{"encoding-json", json.Unmarshal}, {"goccy-go-json", gojson.Unmarshal}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var v any
				if err := d.f(body, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
