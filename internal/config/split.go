package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"regexp"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"sigs.k8s.io/yaml"

	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/parallel"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// A large configuration is mostly its groups, and a reload usually changes
// few of them. Parser splits a file into the entries outside the groups
// and the text of each group, and parses only the groups whose text it has
// not parsed before; parsing one group's text alone gives what it gives
// inside the file whenever the split is exact, and every case where it may
// not be (anything unusual, and every error) takes the plain path of
// parsing the file whole. FuzzParserSplit checks the two agree.
//
// A group whose text changed is split the same way one level down (YAML
// only): the group without its APIs, and the text of each API, of which
// only the APIs not parsed before are parsed, so that a one-API change in
// a group of a thousand parses one API. Anything the API split does not
// understand parses the group whole.

// Parser parses configurations like Parse, remembering the groups of the
// last configuration it parsed by the text that defines them: parsing a
// file where one group changed parses that group's text and the entries
// outside the groups only. It is safe for concurrent use; what it
// remembers is one configuration's groups (the last one parsed).
type Parser struct {
	mu   sync.Mutex
	memo map[groupKey]*parsedGroup
	// apis are the APIs of the groups in memo that were parsed API by API,
	// by the text that defines them.
	apis map[groupKey]*configv1.Api
	// models are the group models of the last configuration Load built,
	// by digest.
	models map[string]*model.Group
	// apiModels is the APIs map of that configuration's snapshot.
	apiModels map[string]*model.API
	// digestMemo holds the digests of the last configuration's groups.
	digestMemo *digestMemo
	// rest is the last parse of the entries outside the groups, by text.
	rest *parsedRest
}

// parsedRest is the parse of a file without its groups (with an empty
// item for each YAML group), by its text.
type parsedRest struct {
	key groupKey
	gw  *configv1.Gateway
}

// digests is groupDigests reusing the digests of the groups of the last
// configuration p built that are the same messages.
func (p *Parser) digests(gw *configv1.Gateway) digests {
	p.mu.Lock()
	memo := p.digestMemo
	p.mu.Unlock()
	d, next := groupDigestsReusing(gw, memo)
	p.mu.Lock()
	p.digestMemo = next
	p.mu.Unlock()
	return d
}

// groupKey identifies a group's source text and its syntax.
type groupKey struct {
	json bool
	sum  [sha256.Size]byte
}

// parsedGroup is a group as parsed, with the keys of its APIs' texts when
// it was parsed API by API (apiKeys[i] defines Apis[i]).
type parsedGroup struct {
	group   *configv1.Group
	apiKeys []groupKey
}

// errNoSplit sends a document to the plain path.
var errNoSplit = errors.New("config: not split")

// Parse decodes data like the package's Parse. The groups it returns may
// be shared with earlier results: treat them as read-only.
func (p *Parser) Parse(data []byte) (*configv1.Gateway, error) {
	if len(data) > MaxFileSize {
		return Parse(data)
	}
	isJSON := isJSONObject(data)
	var rest []byte
	var items [][]byte
	var err error
	placeholders := 0 // empty groups standing in for the items in rest
	if isJSON {
		rest, items, err = splitJSON(data)
	} else {
		rest, items, err = splitYAML(data)
		placeholders = len(items)
	}
	if err != nil || len(items) == 0 {
		return Parse(data)
	}
	restKey := groupKey{isJSON, sha256.Sum256(rest)}
	p.mu.Lock()
	old, oldAPIs, lastRest := p.memo, p.apis, p.rest
	p.mu.Unlock()
	var gw *configv1.Gateway
	if lastRest != nil && lastRest.key == restKey {
		// The same entries outside the groups: the same parse (shared,
		// read-only; the groups are set on a copy of the top level).
		gw = shallowCopy(lastRest.gw)
	} else {
		parsed, err := Parse(rest)
		if err != nil || len(parsed.GetGroups()) != placeholders {
			return Parse(data) // the plain path reports the error
		}
		for _, g := range parsed.GetGroups() {
			if proto.Size(g) != 0 {
				return Parse(data)
			}
		}
		lastRest = &parsedRest{key: restKey, gw: parsed}
		gw = shallowCopy(parsed)
	}
	parsed := make([]*parsedGroup, len(items))
	keys := make([]groupKey, len(items))
	var todo []int
	for i, it := range items {
		keys[i] = groupKey{isJSON, sha256.Sum256(it)}
		if g := old[keys[i]]; g != nil {
			parsed[i] = g
			continue
		}
		todo = append(todo, i)
	}
	var failed atomic.Bool
	parallel.For(len(todo), parallel.Workers(), func() func(int) {
		return func(k int) {
			if failed.Load() {
				return // the whole file is parsed instead
			}
			text := items[todo[k]]
			if !isJSON {
				if pg, err := parseGroupByAPI(text, oldAPIs); err == nil {
					parsed[todo[k]] = pg
					return
				}
			}
			g, err := parseGroup(text, isJSON)
			if err != nil {
				failed.Store(true)
				return
			}
			parsed[todo[k]] = &parsedGroup{group: g}
		}
	})
	if failed.Load() {
		return Parse(data)
	}
	memo := make(map[groupKey]*parsedGroup, len(items))
	apis := make(map[groupKey]*configv1.Api, len(oldAPIs))
	groups := make([]*configv1.Group, len(items))
	for i, pg := range parsed {
		memo[keys[i]] = pg
		groups[i] = pg.group
		for j, k := range pg.apiKeys {
			apis[k] = pg.group.Apis[j]
		}
	}
	p.mu.Lock()
	p.memo, p.apis, p.rest = memo, apis, lastRest
	p.mu.Unlock()
	gw.Groups = groups
	return gw, nil
}

// shallowCopy returns a copy of gw's top level (its fields are shared).
func shallowCopy(gw *configv1.Gateway) *configv1.Gateway {
	out := &configv1.Gateway{}
	gw.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		out.ProtoReflect().Set(fd, v)
		return true
	})
	return out
}

// parseGroupByAPI parses the text of one YAML group (see parseGroup) API
// by API: the group with an empty item in place of each API, then the
// text of each API not found in known. It refuses (errNoSplit or the
// parser's error) whatever splitAPIs does not cut, and any item that does
// not parse alone; the caller then parses the group whole.
func parseGroupByAPI(text []byte, known map[groupKey]*configv1.Api) (*parsedGroup, error) {
	rest, items, err := splitAPIs(text)
	if err != nil {
		return nil, err
	}
	g, err := parseGroup(rest, false)
	if err != nil {
		return nil, err
	}
	if len(g.GetApis()) != len(items) {
		return nil, errNoSplit
	}
	for _, a := range g.GetApis() {
		if proto.Size(a) != 0 {
			return nil, errNoSplit
		}
	}
	pg := &parsedGroup{group: g, apiKeys: make([]groupKey, len(items))}
	for i, it := range items {
		k := groupKey{false, sha256.Sum256(it)}
		pg.apiKeys[i] = k
		if a := known[k]; a != nil {
			g.Apis[i] = a
			continue
		}
		a, err := parseAPI(it)
		if err != nil {
			return nil, err
		}
		g.Apis[i] = a
	}
	return pg, nil
}

// parseAPI parses the text of one API: a YAML block sequence of one item.
func parseAPI(text []byte) (*configv1.Api, error) {
	js, err := yaml.YAMLToJSON(text)
	if err != nil {
		return nil, err
	}
	js = bytes.TrimSpace(js)
	if len(js) < 2 || js[0] != '[' || js[len(js)-1] != ']' {
		return nil, errNoSplit
	}
	doc := make([]byte, 0, len(js)+12)
	doc = append(append(append(doc, `{"apis":`...), js...), '}')
	g := &configv1.Group{}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(doc, g); err != nil {
		return nil, err
	}
	if len(g.GetApis()) != 1 {
		return nil, errNoSplit
	}
	return g.Apis[0], nil
}

// apisLine is the apis key of a group mapping whose value is on the lines
// below (a block sequence), once the mapping's indentation is removed.
var apisLine = regexp.MustCompile(`^apis:([ \t]+#.*|[ \t]*)$`)

// plainKey starts a mapping entry with a plain key.
var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*:( |$)`)

// splitAPIs cuts the text of one YAML group item (as splitYAML cuts it:
// a block sequence of one mapping) into the text of each item of its apis
// entry's block sequence, and the group with each of them replaced by an
// empty item (rest). It only splits the plain layout,
//
//	groups:
//	  - name: g        (a plain key right after the dash)
//	    apis:          (at the mapping's indentation)
//	      - name: a    (items all at one indentation)
//	        ...
//	    other: ...
//
// and refuses (errNoSplit) anything else: another first line, a line less
// indented than the mapping, a second apis entry, a line between the
// mapping's and the items' indentation.
func splitAPIs(text []byte) (rest []byte, items [][]byte, err error) {
	lines := bytes.SplitAfter(text, []byte("\n"))
	first := bytes.TrimRight(lines[0], "\r\n")
	dash := len(first) - len(bytes.TrimLeft(first, " "))
	if dash >= len(first) || first[dash] != '-' {
		return nil, nil, errNoSplit
	}
	after := first[dash+1:]
	content := bytes.TrimLeft(after, " ")
	if len(after) == len(content) || !plainKey.Match(content) || bytes.HasPrefix(content, []byte("apis:")) {
		return nil, nil, errNoSplit
	}
	keys := len(first) - len(content) // the mapping's indentation
	rest = append(rest, lines[0]...)
	seen, inAPIs := false, false
	indent := -1 // of the API items, once known
	var item []byte
	flush := func() {
		if item != nil {
			items = append(items, item)
			item = nil
		}
	}
	for _, l := range lines[1:] {
		body := bytes.TrimRight(l, "\r\n")
		trimmed := bytes.TrimLeft(body, " ")
		if len(trimmed) > 0 && trimmed[0] == '\t' {
			return nil, nil, errNoSplit
		}
		blank := len(bytes.TrimSpace(body)) == 0
		comment := !blank && trimmed[0] == '#'
		if blank || comment {
			if item != nil {
				item = append(item, l...)
			} else {
				rest = append(rest, l...)
			}
			continue
		}
		n := len(body) - len(trimmed)
		isItem := trimmed[0] == '-' && (len(trimmed) == 1 || trimmed[1] == ' ')
		if n < keys {
			return nil, nil, errNoSplit
		}
		if inAPIs {
			if indent < 0 {
				if !isItem {
					return nil, nil, errNoSplit // apis: with no items
				}
				indent = n
			}
			switch {
			case n == indent && isItem:
				flush()
				item = append([]byte(nil), l...)
				rest = append(append(rest, body[:n]...), "- {}\n"...)
				continue
			case n > indent:
				item = append(item, l...)
				continue
			case n == keys:
				flush()
				inAPIs = false // the next key of the group
			default:
				return nil, nil, errNoSplit
			}
		}
		if n == keys && apisLine.Match(trimmed) {
			if seen {
				return nil, nil, errNoSplit
			}
			seen, inAPIs = true, true
		}
		rest = append(rest, l...)
	}
	flush()
	if len(items) == 0 {
		return nil, nil, errNoSplit
	}
	return rest, items, nil
}

// parseGroup parses the text of one group: a YAML block sequence of one
// item, or a JSON object.
func parseGroup(text []byte, isJSON bool) (*configv1.Group, error) {
	js := text
	if !isJSON {
		var err error
		if js, err = yaml.YAMLToJSON(text); err != nil {
			return nil, err
		}
		js = bytes.TrimSpace(js)
		if len(js) < 2 || js[0] != '[' || js[len(js)-1] != ']' {
			return nil, errNoSplit
		}
		js = js[1 : len(js)-1]
	}
	doc := make([]byte, 0, len(js)+12)
	doc = append(append(append(doc, `{"groups":[`...), js...), "]}"...)
	gw := &configv1.Gateway{}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(doc, gw); err != nil {
		return nil, err
	}
	if len(gw.GetGroups()) != 1 {
		return nil, errNoSplit
	}
	return gw.Groups[0], nil
}

// groupsLine is a top-level "groups:" key whose value is on the lines
// below (a block sequence).
var groupsLine = regexp.MustCompile(`^groups:([ \t]+#.*|[ \t]*)$`)

// splitYAML cuts a YAML document into the text of each item of its
// top-level groups entry's block sequence, and the document with each item
// replaced by an empty one (rest: parsing it checks that the document
// around the items is well formed, as it is in the file). It only splits
// the plain layout,
//
//	groups:
//	  - name: a      (items all at one indentation)
//	    ...
//	other: ...
//
// and refuses (errNoSplit) anything else it would have to understand:
// document markers and directives, complex keys, a second groups entry,
// lines less indented than the items. An item's text parsed alone equals
// the item in the document unless the item refers to the rest of the
// document (aliases), which fails to parse alone, and the caller then
// parses the document whole.
func splitYAML(data []byte) (rest []byte, items [][]byte, err error) {
	if !utf8.Valid(data) || otherBreaks(data) {
		return nil, nil, errNoSplit
	}
	inGroups, seen := false, false
	indent := -1 // of the items, once known
	// The item being read is data[item:at] (its lines are contiguous);
	// item < 0: none.
	item := -1
	flush := func(at int) {
		if item >= 0 {
			items = append(items, data[item:at:at])
			item = -1
		}
	}
	rest = make([]byte, 0, 4096)
	for at := 0; at < len(data); {
		next := bytes.IndexByte(data[at:], '\n')
		if next < 0 {
			next = len(data)
		} else {
			next += at + 1
		}
		l := data[at:next]
		lineAt := at
		at = next
		body := bytes.TrimRight(l, "\r\n")
		if len(body) > 0 && body[0] == '\t' {
			return nil, nil, errNoSplit // tabs do not indent YAML
		}
		trimmed := bytes.TrimLeft(body, " ")
		blank := len(bytes.TrimSpace(body)) == 0
		comment := !blank && trimmed[0] == '#'
		topLevel := !blank && !comment && len(trimmed) == len(body) && !(body[0] == '-' && (len(body) == 1 || body[1] == ' '))
		if topLevel {
			switch {
			case bytes.HasPrefix(body, []byte("---")), bytes.HasPrefix(body, []byte("...")), body[0] == '%', body[0] == '?':
				return nil, nil, errNoSplit
			case groupsLine.Match(body):
				if seen {
					return nil, nil, errNoSplit
				}
				seen, inGroups = true, true
				rest = append(rest, l...)
				continue
			}
			if inGroups {
				flush(lineAt)
				inGroups = false
			}
		}
		if !inGroups {
			rest = append(rest, l...)
			continue
		}
		if blank || comment {
			if item < 0 {
				rest = append(rest, l...)
			}
			continue
		}
		n := len(body) - len(trimmed)
		isItem := trimmed[0] == '-' && (len(trimmed) == 1 || trimmed[1] == ' ')
		if indent < 0 {
			if !isItem {
				return nil, nil, errNoSplit
			}
			indent = n
		}
		switch {
		case n < indent:
			return nil, nil, errNoSplit
		case n == indent && isItem:
			flush(lineAt)
			item = lineAt
			if len(rest) > 0 && rest[len(rest)-1] != '\n' {
				rest = append(rest, '\n')
			}
			rest = append(append(rest, body[:n]...), "- {}\n"...)
		case n == indent:
			return nil, nil, errNoSplit
		}
	}
	flush(len(data))
	if seen && len(items) == 0 {
		return nil, nil, errNoSplit
	}
	return rest, items, nil
}

// otherBreaks reports whether data has line breaks other than "\n" and
// "\r\n": a lone "\r", or (YAML 1.1) NEL, LS or PS.
func otherBreaks(data []byte) bool {
	for i, c := range data {
		if c == '\r' && (i+1 == len(data) || data[i+1] != '\n') {
			return true
		}
	}
	return bytes.Contains(data, []byte("\u0085")) || bytes.Contains(data, []byte("\u2028")) || bytes.Contains(data, []byte("\u2029"))
}

// splitJSON cuts a JSON object into the object without its "groups" member
// (rest) and the text of each element of that member's array. data must
// be valid JSON (the caller checked it); one pass over it finds the
// members and elements. A duplicate member, or groups that are not an
// array, refuse the split (the plain path reports what protojson
// reports).
func splitJSON(data []byte) (rest []byte, items [][]byte, err error) {
	t := bytes.Trim(data, " \t\r\n")
	// Only JSON's own white space may surround the object (protojson
	// refuses any other).
	if len(t) < 2 || t[0] != '{' || !bytes.Equal(t, bytes.TrimSpace(data)) {
		return nil, nil, errNoSplit
	}
	seen := map[string]bool{}
	rest = append(rest, '{')
	var groups []byte
	for _, m := range jsonMembers(t) {
		var key string
		if err := json.Unmarshal(m[0], &key); err != nil || seen[key] {
			return nil, nil, errNoSplit
		}
		seen[key] = true
		if key == "groups" {
			groups = m[1]
			continue
		}
		if len(rest) > 1 {
			rest = append(rest, ',')
		}
		rest = append(append(append(rest, m[0]...), ':'), m[1]...)
	}
	rest = append(rest, '}')
	if len(groups) < 2 || groups[0] != '[' {
		return nil, nil, errNoSplit
	}
	return rest, jsonElements(groups), nil
}

// jsonMembers returns the key and value text of each member of the valid
// JSON object obj.
func jsonMembers(obj []byte) [][2][]byte {
	var out [][2][]byte
	for _, part := range jsonParts(obj) {
		// A part is `ws "key" ws : ws value ws`.
		p := bytes.Trim(part, " \t\r\n")
		end := jsonStringEnd(p)
		colon := end + bytes.IndexByte(p[end:], ':')
		out = append(out, [2][]byte{p[:end], bytes.Trim(p[colon+1:], " \t\r\n")})
	}
	return out
}

// jsonElements returns the text of each element of the valid JSON array.
func jsonElements(arr []byte) [][]byte {
	var out [][]byte
	for _, part := range jsonParts(arr) {
		out = append(out, bytes.Trim(part, " \t\r\n"))
	}
	return out
}

// jsonParts splits the inside of a valid JSON object or array at its
// top-level commas (none for an empty one).
func jsonParts(v []byte) [][]byte {
	inner := v[1 : len(v)-1]
	if len(bytes.Trim(inner, " \t\r\n")) == 0 {
		return nil
	}
	var out [][]byte
	depth, from := 0, 0
	for i := 0; i < len(inner); i++ {
		switch inner[i] {
		case '"':
			i += jsonStringEnd(inner[i:]) - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, inner[from:i])
				from = i + 1
			}
		}
	}
	return append(out, inner[from:])
}

// jsonStringEnd returns the length of the valid JSON string at the start
// of b (quotes included).
func jsonStringEnd(b []byte) int {
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}
