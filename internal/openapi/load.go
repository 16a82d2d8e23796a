// Package openapi turns OpenAPI 3.0/3.1 and Swagger 2.0 documents into a
// group of the gateway configuration (Import) and a group back into a
// document (Export), with the platform's x-apigateway-* extensions.
//
// Documents are parsed with github.com/getkin/kin-openapi. Before kin sees
// a document it is scanned once as a YAML node tree (JSON is YAML): that
// scan refuses remote $refs and $ref loops, and gives every problem its
// line and its JSON pointer into the document. See docs/openapi.md.
package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
)

// MaxDocumentSize bounds an imported document: 10 MiB, far above a
// 1,000-operation document (about 0.5 MiB) and the platform's 300 APIs per
// import.
const MaxDocumentSize = 10 << 20

// Problem is one error or warning about a document, at a JSON pointer into
// it (RFC 6901, "#/paths/~1orders~1{id}/get") and its line when known.
type Problem struct {
	Pointer string `json:"pointer,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Pointer != "" {
		b.WriteString(p.Pointer)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error is a refused document: every problem found.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Document is a parsed document: kin's OpenAPI 3 form (a Swagger 2.0
// document is converted) and the node tree it was read from.
type Document struct {
	T *openapi3.T
	// Version is the document's own: "2.0", "3.0.3", "3.1.0"...
	Version string
	root    *yaml.Node
	// ops lists the operations in document order.
	ops []opRef
}

// opRef is an operation as written: its path, its method key (lower case,
// or the platform's x-apigateway-any-method) and its node.
type opRef struct {
	path, key string
	node      *yaml.Node
}

// pointer escapes tokens into a JSON pointer.
func pointer(tokens ...string) string {
	var b strings.Builder
	b.WriteString("#")
	for _, t := range tokens {
		b.WriteString("/")
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

var methodKeys = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true}

// pathItemFields are the keys of a Path Item besides its methods.
var pathItemFields = map[string]bool{"$ref": true, "summary": true, "description": true, "servers": true, "parameters": true}

// Parse reads a document (YAML or JSON). Every failure is an *Error.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxDocumentSize {
		return nil, &Error{[]Problem{{Message: fmt.Sprintf("document is %d bytes, larger than the %d (10 MiB) allowed", len(data), MaxDocumentSize)}}}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{[]Problem{{Message: "empty document"}}}
	}
	var doc yaml.Node
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		// JSON: encoding/json says where (YAML's parser often does not).
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			p := Problem{Message: "not valid JSON: " + err.Error()}
			var se *json.SyntaxError
			if errors.As(err, &se) {
				p.Line = 1 + bytes.Count(data[:se.Offset], []byte("\n"))
			}
			return nil, &Error{[]Problem{p}}
		}
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{[]Problem{syntaxProblem(err)}}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{[]Problem{{Line: 1, Message: "not an OpenAPI document: the top level must be a mapping"}}}
	}
	d := &Document{root: doc.Content[0]}
	var ps []Problem
	sw, oa := get(d.root, "swagger"), get(d.root, "openapi")
	switch {
	case sw != nil && sw.Value == "2.0":
		d.Version = "2.0"
	case oa != nil && (strings.HasPrefix(oa.Value, "3.0") || strings.HasPrefix(oa.Value, "3.1")):
		d.Version = oa.Value
	case sw != nil:
		return nil, &Error{[]Problem{{Pointer: "#/swagger", Line: sw.Line, Message: fmt.Sprintf("swagger %q is not supported (2.0 is)", sw.Value)}}}
	case oa != nil:
		return nil, &Error{[]Problem{{Pointer: "#/openapi", Line: oa.Line, Message: fmt.Sprintf("openapi %q is not supported (3.0.x and 3.1.x are)", oa.Value)}}}
	default:
		return nil, &Error{[]Problem{{Line: 1, Message: "not an OpenAPI document: no openapi: 3.x or swagger: \"2.0\" at the top level"}}}
	}
	ps = append(ps, checkRefs(d.root)...)
	ps = append(ps, d.scanPaths()...)
	if len(ps) > 0 {
		return nil, &Error{ps}
	}
	t, err := d.load(data)
	if err != nil {
		return nil, err
	}
	d.T = t
	return d, nil
}

var reLine = strings.NewReplacer("yaml: ", "")

// syntaxProblem places a YAML/JSON syntax error at its line.
func syntaxProblem(err error) Problem {
	msg := err.Error()
	p := Problem{Message: "not valid YAML or JSON: " + reLine.Replace(msg)}
	if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				p.Line, p.Message = l, "not valid YAML or JSON: "+tail
			}
		}
	}
	return p
}

// get returns the value of key in mapping m, nil if absent.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// checkRefs refuses remote $refs (no network, no file system at import)
// and $ref loops: a chain of references that comes back to itself without
// ever reaching a definition. Recursive schemas (a property that refers to
// its own schema) are not loops and are accepted.
func checkRefs(root *yaml.Node) []Problem {
	var ps []Problem
	type ref struct {
		at     string
		line   int
		target string
	}
	var refs []ref
	var walk func(n *yaml.Node, at string)
	walk = func(n *yaml.Node, at string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value == "$ref" && v.Kind == yaml.ScalarNode {
					refs = append(refs, ref{at, v.Line, v.Value})
					continue
				}
				walk(v, at+"/"+escape(k.Value))
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, at+"/"+strconv.Itoa(i))
			}
		case yaml.AliasNode:
			// an alias is its anchor's content, already walked there
		}
	}
	walk(root, "#")
	byAt := map[string]string{}
	for _, r := range refs {
		if !strings.HasPrefix(r.target, "#") {
			ps = append(ps, Problem{Pointer: r.at + "/$ref", Line: r.line, Message: fmt.Sprintf("remote $ref %q is refused: import reads no other file and no network; bundle the document first", r.target)})
			continue
		}
		if resolve(root, r.target) == nil {
			ps = append(ps, Problem{Pointer: r.at + "/$ref", Line: r.line, Message: fmt.Sprintf("$ref %q points to nothing in the document", r.target)})
			continue
		}
		byAt[r.at] = r.target
	}
	for _, r := range refs {
		seen := map[string]bool{r.at: true}
		for cur := byAt[r.at]; cur != ""; cur = byAt[cur] {
			if seen[cur] {
				ps = append(ps, Problem{Pointer: r.at + "/$ref", Line: r.line, Message: fmt.Sprintf("$ref loop: %q leads back to itself through references only", r.target)})
				break
			}
			seen[cur] = true
		}
	}
	return ps
}

func escape(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

// resolve follows a local JSON pointer ("#/components/schemas/Pet").
func resolve(root *yaml.Node, ptr string) *yaml.Node {
	p := strings.TrimPrefix(ptr, "#")
	if p == "" {
		return root
	}
	if !strings.HasPrefix(p, "/") {
		return nil
	}
	n := root
	for _, tok := range strings.Split(p[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch n.Kind {
		case yaml.MappingNode:
			n = get(n, tok)
		case yaml.SequenceNode:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil
			}
			n = n.Content[i]
		default:
			return nil
		}
		if n == nil {
			return nil
		}
	}
	return n
}

// scanPaths lists the operations in document order and refuses what is
// not one: a key under a path that is neither a method nor a path item
// field (say responses: written without its method), and TRACE (the
// gateway does not route it).
func (d *Document) scanPaths() []Problem {
	paths := get(d.root, "paths")
	if paths == nil {
		return []Problem{{Pointer: "#/paths", Line: 1, Message: "the document has no paths"}}
	}
	if paths.Kind != yaml.MappingNode {
		return []Problem{{Pointer: "#/paths", Line: paths.Line, Message: "paths must be a mapping"}}
	}
	var ps []Problem
	for i := 0; i+1 < len(paths.Content); i += 2 {
		path, item := paths.Content[i].Value, paths.Content[i+1]
		if strings.HasPrefix(path, "x-") {
			continue
		}
		if item.Kind != yaml.MappingNode {
			ps = append(ps, Problem{Pointer: pointer("paths", path), Line: item.Line, Message: "a path item must be a mapping of methods to operations"})
			continue
		}
		for j := 0; j+1 < len(item.Content); j += 2 {
			k := item.Content[j]
			switch key := k.Value; {
			case methodKeys[key] || key == extAnyMethod:
				d.ops = append(d.ops, opRef{path, key, item.Content[j+1]})
			case pathItemFields[key] || strings.HasPrefix(key, "x-"):
			case key == "trace":
				ps = append(ps, Problem{Pointer: pointer("paths", path, key), Line: k.Line, Message: "TRACE is not supported: the gateway routes GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS and ANY"})
			case methodKeys[strings.ToLower(key)]:
				ps = append(ps, Problem{Pointer: pointer("paths", path, key), Line: k.Line, Message: fmt.Sprintf("method keys are lower case: write %q", strings.ToLower(key))})
			case key == "responses" || key == "operationId" || key == "requestBody" || key == "security":
				ps = append(ps, Problem{Pointer: pointer("paths", path, key), Line: k.Line, Message: fmt.Sprintf("an operation without a method: %q belongs in an operation under get, post, put, delete, patch, head or options", key)})
			default:
				ps = append(ps, Problem{Pointer: pointer("paths", path, key), Line: k.Line, Message: fmt.Sprintf("%q is not an HTTP method nor a path item field", key)})
			}
		}
	}
	if len(d.ops) == 0 && len(ps) == 0 {
		ps = append(ps, Problem{Pointer: "#/paths", Line: paths.Line, Message: "the document has no operations"})
	}
	return ps
}

// load hands the document to kin-openapi: Swagger 2.0 is decoded and
// converted to OpenAPI 3; OpenAPI 3 is loaded with external references
// off; both are validated.
func (d *Document) load(data []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	loader.Context = context.Background()
	var t *openapi3.T
	if d.Version == "2.0" {
		var tree any
		if err := d.root.Decode(&tree); err != nil {
			return nil, &Error{[]Problem{{Message: "not valid YAML or JSON: " + err.Error()}}}
		}
		js, err := json.Marshal(jsonable(tree))
		if err != nil {
			return nil, &Error{[]Problem{{Message: err.Error()}}}
		}
		var t2 openapi2.T
		if err := json.Unmarshal(js, &t2); err != nil {
			return nil, &Error{[]Problem{{Message: "invalid Swagger 2.0 document: " + err.Error()}}}
		}
		if t, err = openapi2conv.ToV3WithLoader(&t2, loader, nil); err != nil {
			return nil, &Error{[]Problem{{Message: "invalid Swagger 2.0 document: " + err.Error()}}}
		}
	} else {
		var err error
		if t, err = loader.LoadFromData(data); err != nil {
			return nil, &Error{[]Problem{{Message: "invalid OpenAPI document: " + err.Error()}}}
		}
	}
	err := t.Validate(loader.Context, openapi3.DisableExamplesValidation(), openapi3.DisableSchemaDefaultsValidation(), openapi3.EnableMultiError())
	if err != nil {
		var me openapi3.MultiError
		var ps []Problem
		if errors.As(err, &me) {
			for _, e := range me {
				ps = append(ps, Problem{Message: "invalid OpenAPI document: " + e.Error()})
			}
		} else {
			ps = append(ps, Problem{Message: "invalid OpenAPI document: " + err.Error()})
		}
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Message < ps[j].Message })
		return nil, &Error{ps}
	}
	return t, nil
}

// jsonable turns YAML's map[any]any (non-string keys) into JSON's form.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
	}
	return v
}
