package config

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// A tree is a parsed document kept only to explain what is wrong with it:
// the schema walker (schema.go) walks the tree of the JSON protojson saw,
// and problems are placed at lines and columns through the tree of the file
// as written (the same tree for a JSON file; the yaml.Node tree of a YAML
// file, converted).
type tree struct {
	kind  byte   // '{' object, '[' array, '"' string, '0' number, 't' true or false, 'n' null
	raw   string // scalars: the JSON text, or for YAML the scalar as written
	keys  []treeKey
	items []*tree // the values of an object's keys, or an array's items
	line  int     // 1-based; 0 unknown
	col   int     // 1-based, in characters
	// merged are the mappings a YAML merge key ("<<") brings in.
	merged []*tree
}

type treeKey struct {
	name      string // decoded
	raw       string // as written (JSON: quoted)
	line, col int
}

// maxDepth bounds the nesting of a document the trees are built for.
const maxDepth = 10000

var errTooDeep = errors.New("nested too deeply")

// parseJSONTree parses the valid JSON data (checked by the caller) into a
// tree with the line and column of every key and value.
func parseJSONTree(data []byte) (*tree, error) {
	p := &jsonScanner{data: data, line: 1, col: 1}
	p.space()
	return p.value(0)
}

type jsonScanner struct {
	data      []byte
	i         int
	line, col int
}

func (p *jsonScanner) advance(n int) {
	for k := 0; k < n && p.i < len(p.data); k++ {
		c := p.data[p.i]
		p.i++
		switch {
		case c == '\n':
			p.line++
			p.col = 1
		case c&0xC0 != 0x80: // not a UTF-8 continuation byte
			p.col++
		}
	}
}

func (p *jsonScanner) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\r', '\n':
			p.advance(1)
		default:
			return
		}
	}
}

func (p *jsonScanner) value(depth int) (*tree, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	if p.i >= len(p.data) {
		return nil, errors.New("unexpected end of JSON")
	}
	t := &tree{line: p.line, col: p.col}
	switch c := p.data[p.i]; c {
	case '{':
		t.kind = '{'
		p.advance(1)
		p.space()
		for p.i < len(p.data) && p.data[p.i] != '}' {
			k := treeKey{line: p.line, col: p.col}
			k.raw = p.str()
			k.name = jsonUnquote(k.raw)
			p.space()
			p.advance(1) // :
			p.space()
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			t.keys = append(t.keys, k)
			t.items = append(t.items, v)
			p.space()
			if p.i < len(p.data) && p.data[p.i] == ',' {
				p.advance(1)
				p.space()
			}
		}
		p.advance(1)
	case '[':
		t.kind = '['
		p.advance(1)
		p.space()
		for p.i < len(p.data) && p.data[p.i] != ']' {
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			t.items = append(t.items, v)
			p.space()
			if p.i < len(p.data) && p.data[p.i] == ',' {
				p.advance(1)
				p.space()
			}
		}
		p.advance(1)
	case '"':
		t.kind = '"'
		t.raw = p.str()
	default:
		start := p.i
		for p.i < len(p.data) {
			switch p.data[p.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
			default:
				p.advance(1)
				continue
			}
			break
		}
		t.raw = string(p.data[start:p.i])
		switch c {
		case 't', 'f':
			t.kind = 't'
		case 'n':
			t.kind = 'n'
		default:
			t.kind = '0'
		}
	}
	return t, nil
}

// str scans the string at p.i and returns its text, quotes included.
func (p *jsonScanner) str() string {
	start := p.i
	p.advance(1)
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case '\\':
			p.advance(2)
			continue
		case '"':
			p.advance(1)
			return string(p.data[start:p.i])
		}
		p.advance(1)
	}
	return string(p.data[start:])
}

// jsonUnquote decodes a JSON string literal.
func jsonUnquote(raw string) string {
	if len(raw) >= 2 && !hasByte(raw, '\\') {
		return raw[1 : len(raw)-1]
	}
	var s string
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return raw
	}
	return s
}

func hasByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// parseYAMLTree parses data with yaml.v3 into a tree of the positions of
// its keys and values. Aliases share the tree of their anchor (so they are
// not expanded), and a merge key's mappings are kept in merged.
func parseYAMLTree(data []byte) (*tree, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	c := &yamlConverter{seen: map[*yaml.Node]*tree{}}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return &tree{kind: 'n', line: 1, col: 1}, nil
	}
	return c.convert(doc.Content[0], 0)
}

type yamlConverter struct{ seen map[*yaml.Node]*tree }

func (c *yamlConverter) convert(n *yaml.Node, depth int) (*tree, error) {
	for n.Kind == yaml.AliasNode && n.Alias != nil && depth <= maxDepth {
		n = n.Alias
		depth++
	}
	if depth > maxDepth {
		return nil, errTooDeep
	}
	if t := c.seen[n]; t != nil {
		return t, nil
	}
	t := &tree{line: n.Line, col: n.Column}
	c.seen[n] = t
	switch n.Kind {
	case yaml.MappingNode:
		t.kind = '{'
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			vt, err := c.convert(v, depth+1)
			if err != nil {
				return nil, err
			}
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				if vt.kind == '[' {
					t.merged = append(t.merged, vt.items...)
				} else {
					t.merged = append(t.merged, vt)
				}
				continue
			}
			t.keys = append(t.keys, treeKey{name: k.Value, raw: k.Value, line: k.Line, col: k.Column})
			t.items = append(t.items, vt)
		}
	case yaml.SequenceNode:
		t.kind = '['
		for _, v := range n.Content {
			vt, err := c.convert(v, depth+1)
			if err != nil {
				return nil, err
			}
			t.items = append(t.items, vt)
		}
	default:
		t.kind = '"'
		t.raw = n.Value
		switch n.Tag {
		case "!!null":
			t.kind = 'n'
		case "!!int", "!!float":
			t.kind = '0'
		case "!!bool":
			t.kind = 't'
		}
	}
	return t, nil
}

// member returns the value of the occ-th key (0-based) named name, looking
// into merged mappings as YAML does; a key of the mapping itself wins over
// merged ones.
func (t *tree) member(name string, occ int) (treeKey, *tree, bool) {
	return t.memberDepth(name, occ, 0)
}

func (t *tree) memberDepth(name string, occ, depth int) (treeKey, *tree, bool) {
	if t == nil || t.kind != '{' || depth > 32 {
		return treeKey{}, nil, false
	}
	for i, k := range t.keys {
		if k.name == name {
			if occ == 0 {
				return k, t.items[i], true
			}
			occ--
		}
	}
	for _, m := range t.merged {
		if k, v, ok := m.memberDepth(name, 0, depth+1); ok {
			return k, v, true
		}
	}
	return treeKey{}, nil, false
}

// describe names a scalar for a message: a JSON value as is, a YAML one as
// written.
func (t *tree) describe() string {
	switch t.kind {
	case '{':
		return "a mapping"
	case '[':
		return "a list"
	case 'n':
		if t.raw == "" || t.raw == "null" {
			return "nothing (null)"
		}
	}
	s := t.raw
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		s = string(r[:37]) + "..."
	}
	if t.kind == '"' && (len(s) == 0 || s[0] != '"') {
		return strconv.Quote(s)
	}
	return s
}
