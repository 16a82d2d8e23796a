package bodyschema

import (
	"strings"
	"testing"
)

// petBody is a 1 KiB body valid against pet.
func petBody() []byte {
	var b strings.Builder
	b.WriteString(`{"id":12345,"name":"doggie","category":{"id":1,"name":"dogs"},"photoUrls":[`)
	for i := range 8 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"https://img.example.com/pets/12345/photo-0001.jpg"`)
	}
	b.WriteString(`],"tags":[`)
	for i := range 6 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"id":7,"name":"good-boy-tag"}`)
	}
	b.WriteString(`],"status":"available","price":12.5,"notes":"`)
	for b.Len() < 1022 {
		b.WriteString("x")
	}
	b.WriteString(`"}`)
	return []byte(b.String())
}

// BenchmarkValidate1KiB validates a 1 KiB JSON body (8 properties, nested
// object, arrays of strings and objects, enum, pattern, bounds) against
// its compiled schema: decode and validate, what Check pays per request.
func BenchmarkValidate1KiB(b *testing.B) {
	s, err := Compile(pet)
	if err != nil {
		b.Fatal(err)
	}
	body := petBody()
	if len(body) != 1024 {
		b.Fatalf("body is %d bytes", len(body))
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if f := s.Validate(body); f != nil {
			b.Fatal(f.Message())
		}
	}
}
