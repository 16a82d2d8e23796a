package config

// The schema walker: when protojson refuses a document, the walker goes
// through the whole document against the schema's descriptors, lists every
// key and value the schema does not accept (with the path as the user wrote
// it, and later its line and column), and decodes what remains, so that the
// semantic validation can run too and every problem of the file is listed
// at once. It walks the JSON protojson saw (for YAML, the converted JSON),
// so it accepts exactly what protojson accepts; leaves it is unsure about
// are checked by protojson itself. It runs only when protojson failed: the
// happy path is protojson alone.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Fields written as strings that also accept a plain number: sizes (a
// number of bytes) and durations (a number has no unit: the builder refuses
// it with a hint, except 0).
var numberAsString = map[protoreflect.FullName]bool{
	"apigw.config.v1.Settings.max_body_size":  true,
	"apigw.config.v1.Settings.max_uri_size":   true,
	"apigw.config.v1.Settings.clock_skew":     true,
	"apigw.config.v1.Lockout.duration":        true,
	"apigw.config.v1.Hmac.clock_skew":         true,
	"apigw.config.v1.ReplayProtection.window": true,
	"apigw.config.v1.Backend.timeout":         true,
	"apigw.config.v1.Cors.max_age":            true,
	"apigw.config.v1.HealthCheck.interval":    true,
	"apigw.config.v1.HealthCheck.timeout":     true,
	"apigw.config.v1.TokenIssuer.refresh":     true,
	"apigw.config.v1.Authorizer.timeout":      true,
	"apigw.config.v1.Authorizer.cache_ttl":    true,
	// Parameter values (true and false too: scalarAsString).
	"apigw.config.v1.RequestParameter.default":  true,
	"apigw.config.v1.RequestParameter.enum":     true,
	"apigw.config.v1.BackendParameter.constant": true,
}

// parameterValue reports whether fd is a parameter value, which also
// accepts true and false (written as strings).
func parameterValue(fd protoreflect.FieldDescriptor) bool {
	return fd.ContainingMessage().FullName() == "apigw.config.v1.RequestParameter" || fd.ContainingMessage().FullName() == "apigw.config.v1.BackendParameter"
}

// pathElem is one step of a path: a key as written (the occ-th key of
// that name in its mapping) or a list index.
type pathElem struct {
	name    string
	occ     int
	index   int
	isIndex bool
}

func spell(elems []pathElem) string {
	var b strings.Builder
	for _, e := range elems {
		if e.isIndex {
			fmt.Fprintf(&b, "[%d]", e.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.name)
	}
	return b.String()
}

// schemaProblem is a problem the walker found; its message is made once
// the node as written is known (for YAML, the scalar as the user typed it).
type schemaProblem struct {
	elems []pathElem
	atKey bool // place it at the key rather than the value
	msg   func(written *tree) string
}

type walker struct {
	json     bool // the file is JSON (objects and arrays, not mappings and lists)
	buf      []byte
	problems []schemaProblem
	// dropped are the canonical paths (proto names) of the values left out
	// of the decoded message: the semantic problems under them are
	// consequences and are not reported.
	dropped map[string]bool
}

func (w *walker) add(elems []pathElem, atKey bool, msg func(*tree) string) {
	w.problems = append(w.problems, schemaProblem{elems: elems, atKey: atKey, msg: msg})
}

func (w *walker) noun(kind byte) string {
	switch {
	case kind == '{' && w.json:
		return "an object"
	case kind == '{':
		return "a mapping"
	case kind == '[' && w.json:
		return "an array"
	case kind == '[':
		return "a list"
	}
	return ""
}

// got describes a value for "expected X, got Y".
func (w *walker) got(t *tree) string {
	switch t.kind {
	case '{', '[':
		return w.noun(t.kind)
	case 'n':
		return "nothing (null)"
	}
	return t.describe()
}

// wrongType reports that the value at elems is not what the field wants.
// quote: the field is a string, and a number or boolean would be one in
// quotes.
func (w *walker) wrongType(elems []pathElem, canon string, v *tree, want string, quote bool) {
	w.dropped[canon] = true
	w.add(elems, false, func(written *tree) string {
		got := w.got(v)
		lit := v.raw
		if written != nil && (written.kind == '"' || written.kind == '0' || written.kind == 't') && v.kind != '{' && v.kind != '[' && v.kind != '"' {
			// A YAML scalar as written: "no" rather than false.
			lit = written.raw
			got = lit
			if v.kind == 't' && lit != v.raw {
				got += " (which YAML reads as " + v.raw + ")"
			}
		} else if written != nil && written.kind == v.kind {
			got = w.got(written)
		}
		msg := "expected " + want + ", got " + got
		if quote && (v.kind == '0' || v.kind == 't') {
			msg += "; write it in quotes: " + strconv.Quote(lit)
		}
		return msg
	})
}

// message walks the object v against md and appends its accepted part.
func (w *walker) message(v *tree, md protoreflect.MessageDescriptor, path []pathElem, canon string) {
	w.buf = append(w.buf, '{')
	first := true
	fields := md.Fields()
	seenNums := map[protoreflect.FieldNumber]string{}
	seenOneofs := map[int]string{}
	occ := map[string]int{}
	for i, k := range v.keys {
		el := append(path[:len(path):len(path)], pathElem{name: k.name, occ: occ[k.name]})
		occ[k.name]++
		val := v.items[i]
		fd := fields.ByJSONName(k.name)
		if fd == nil {
			fd = fields.ByTextName(k.name)
		}
		if fd == nil {
			name := k.name
			w.add(el, true, func(*tree) string { return unknownField(name, md) })
			continue
		}
		cn := join(canon, string(fd.Name()))
		if prev, dup := seenNums[fd.Number()]; dup {
			w.dropped[cn] = true
			msg := "set twice"
			if prev != k.name {
				msg += fmt.Sprintf(" (also as %q)", prev)
			}
			w.add(el, true, func(*tree) string { return msg })
			continue
		}
		seenNums[fd.Number()] = k.name
		if val.kind == 'n' {
			continue // protojson leaves a null field unset
		}
		if od := fd.ContainingOneof(); od != nil && !fd.IsList() && !fd.IsMap() {
			if prev, set := seenOneofs[od.Index()]; set {
				// The message is dropped from the validation: what it says
				// is unclear until one is left.
				w.dropped[canon] = true
				msg := fmt.Sprintf("set only one of %s (%s is set too)", oneofNames(od), prev)
				w.add(el, true, func(*tree) string { return msg })
				continue
			}
			seenOneofs[od.Index()] = k.name
		}
		mark := len(w.buf)
		if !first {
			w.buf = append(w.buf, ',')
		}
		w.buf = append(append(w.buf, k.raw...), ':')
		if !w.field(val, fd, el, cn) {
			w.buf = w.buf[:mark]
			continue
		}
		first = false
	}
	w.buf = append(w.buf, '}')
}

func join(canon, name string) string {
	if canon == "" {
		return name
	}
	return canon + "." + name
}

// field walks the value of a field; false: nothing was appended.
func (w *walker) field(v *tree, fd protoreflect.FieldDescriptor, path []pathElem, canon string) bool {
	switch {
	case fd.IsList():
		if v.kind != '[' {
			w.wrongType(path, canon, v, w.noun('[')+" of "+pluralNoun(fd, w.json), false)
			return false
		}
		w.buf = append(w.buf, '[')
		first := true
		for j, it := range v.items {
			el := append(path[:len(path):len(path)], pathElem{index: j, isIndex: true})
			mark := len(w.buf)
			if !first {
				w.buf = append(w.buf, ',')
			}
			if !w.single(it, fd, el, idx(canon, j)) {
				w.buf = w.buf[:mark]
				continue
			}
			first = false
		}
		w.buf = append(w.buf, ']')
		return true
	case fd.IsMap():
		if v.kind != '{' {
			w.wrongType(path, canon, v, w.noun('{')+" of names to "+pluralNoun(fd.MapValue(), w.json), false)
			return false
		}
		w.buf = append(w.buf, '{')
		first := true
		seen := map[string]bool{}
		occ := map[string]int{}
		for i, k := range v.keys {
			el := append(path[:len(path):len(path)], pathElem{name: k.name, occ: occ[k.name]})
			occ[k.name]++
			cn := join(canon, k.name)
			if seen[k.name] {
				w.dropped[cn] = true
				w.add(el, true, func(*tree) string { return "set twice" })
				continue
			}
			seen[k.name] = true
			mark := len(w.buf)
			if !first {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(append(w.buf, k.raw...), ':')
			if !w.single(v.items[i], fd.MapValue(), el, cn) {
				w.buf = w.buf[:mark]
				continue
			}
			first = false
		}
		w.buf = append(w.buf, '}')
		return true
	}
	return w.single(v, fd, path, canon)
}

// single walks one value of fd's type (a singular field's, a list item,
// a map value).
func (w *walker) single(v *tree, fd protoreflect.FieldDescriptor, path []pathElem, canon string) bool {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		if v.kind != '{' {
			w.wrongType(path, canon, v, w.noun('{')+" ("+describeMessage(fd.Message())+")", false)
			return false
		}
		w.message(v, fd.Message(), path, canon)
		return true
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		switch {
		case v.kind == '"' && utf8.ValidString(v.raw) && !strings.Contains(v.raw, `\u`):
			w.buf = append(w.buf, v.raw...)
			return true
		case v.kind == '"':
			// Escapes and invalid UTF-8: protojson decides below.
		case (v.kind == '0' || v.kind == 't' && parameterValue(fd)) && numberAsString[fd.FullName()]:
			w.buf = append(append(append(w.buf, '"'), v.raw...), '"')
			return true
		default:
			w.wrongType(path, canon, v, "a string", true)
			return false
		}
	case protoreflect.BoolKind:
		if v.kind == 't' {
			w.buf = append(w.buf, v.raw...)
			return true
		}
		w.wrongType(path, canon, v, "true or false", false)
		return false
	}
	if v.kind == '{' || v.kind == '[' || !scalarAccepted(v.raw, fd) {
		w.wrongType(path, canon, v, kindNoun(fd, w.json), false)
		return false
	}
	w.buf = append(w.buf, v.raw...)
	return true
}

// scalarAccepted asks protojson whether it accepts the JSON scalar raw as
// a value of fd (a field, a list item or a map value).
func scalarAccepted(raw string, fd protoreflect.FieldDescriptor) bool {
	parent, name := fd.ContainingMessage(), fd.JSONName()
	switch {
	case parent.IsMapEntry():
		// The map field holding the entry, in the message the entry is
		// declared in.
		holder, ok := parent.Parent().(protoreflect.MessageDescriptor)
		if !ok {
			return false
		}
		var mf protoreflect.FieldDescriptor
		for i := 0; i < holder.Fields().Len(); i++ {
			if f := holder.Fields().Get(i); f.IsMap() && f.Message().FullName() == parent.FullName() {
				mf = f
			}
		}
		if mf == nil {
			return false
		}
		parent, name, raw = holder, mf.JSONName(), `{"k":`+raw+`}`
	case fd.IsList():
		raw = "[" + raw + "]"
	}
	return protojson.Unmarshal([]byte(`{"`+name+`":`+raw+`}`), dynamicpb.NewMessage(parent)) == nil
}

// pluralNoun names what the values of a list or map are.
func pluralNoun(fd protoreflect.FieldDescriptor, isJSON bool) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return "strings"
	case protoreflect.BoolKind:
		return "booleans"
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if isJSON {
			return "objects"
		}
		return "mappings"
	}
	return "numbers"
}

// kindNoun names what a field's value is.
func kindNoun(fd protoreflect.FieldDescriptor, isJSON bool) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return "a string"
	case protoreflect.BoolKind:
		return "true or false"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return "a whole number (0-4294967295)"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "a whole number (0 or more)"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return "a whole number (-2147483648-2147483647)"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return "a whole number"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "a number"
	case protoreflect.EnumKind:
		var names []string
		for i := 0; i < fd.Enum().Values().Len(); i++ {
			names = append(names, string(fd.Enum().Values().Get(i).Name()))
		}
		return "one of " + strings.Join(names, ", ")
	}
	return fd.Kind().String()
}

func describeMessage(md protoreflect.MessageDescriptor) string {
	return "with keys such as " + strings.Join(fieldNames(md, 3), ", ")
}

func fieldNames(md protoreflect.MessageDescriptor, max int) []string {
	var names []string
	for i := 0; i < md.Fields().Len() && (max <= 0 || i < max); i++ {
		names = append(names, string(md.Fields().Get(i).Name()))
	}
	return names
}

func oneofNames(od protoreflect.OneofDescriptor) string {
	var names []string
	for i := 0; i < od.Fields().Len(); i++ {
		names = append(names, string(od.Fields().Get(i).Name()))
	}
	return strings.Join(names, ", ")
}

// unknownField says that name is not a field of md, suggesting the field
// it is closest to, or listing the fields.
func unknownField(name string, md protoreflect.MessageDescriptor) string {
	if s := suggest(name, md); s != "" {
		return fmt.Sprintf("unknown field; did you mean %q?", s)
	}
	return "unknown field (expected one of " + strings.Join(fieldNames(md, 0), ", ") + ")"
}

// suggest returns the field of md whose name is closest to name: within
// an edit distance of 2 (1 for short names) ignoring case and underscores,
// or, failing that, the only field name name is a prefix of (or that is
// a prefix of name). It is spelt as the user spells keys: camelCase if
// name has an upper-case letter, snake_case otherwise.
func suggest(name string, md protoreflect.MessageDescriptor) string {
	camel := strings.ToLower(name) != name
	n := normalizeKey(name)
	best, bestDist := "", 3
	if len(n) <= 3 {
		bestDist = 2
	}
	var prefixed []protoreflect.FieldDescriptor
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		f := normalizeKey(string(fd.Name()))
		spelt := string(fd.Name())
		if camel {
			spelt = fd.JSONName()
		}
		if d := levenshtein(n, f, bestDist); d < bestDist {
			best, bestDist = spelt, d
		}
		if len(n) >= 3 && (strings.HasPrefix(f, n) || strings.HasPrefix(n, f)) {
			prefixed = append(prefixed, fd)
		}
	}
	if best == "" && len(prefixed) == 1 {
		best = string(prefixed[0].Name())
		if camel {
			best = prefixed[0].JSONName()
		}
	}
	return best
}

func normalizeKey(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "_", "")
}

// levenshtein returns the edit distance of a and b, or max if it is max
// or more.
func levenshtein(a, b string, max int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d >= max || -d >= max {
		return max
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		low := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			low = min(low, cur[j])
		}
		if low >= max {
			return max
		}
		prev, cur = cur, prev
	}
	return min(prev[len(rb)], max)
}

// parseError is what Parse returns for a document it cannot decode: every
// problem found, with its position, and what could be decoded (nil after a
// syntax error) for the semantic validation.
type parseError struct {
	problems []Problem
	gw       *configv1.Gateway
	dropped  map[string]bool
	pos      *tree // the document as written; nil if unavailable
}

func (e *parseError) Error() string {
	var b strings.Builder
	b.WriteString("does not match the schema: ")
	for i, p := range e.problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// decodeSlow walks js (the JSON of data; isJSON: data is that JSON)
// against the schema. It returns what decoded and the problems found, each
// placed in data.
func decodeSlow(data, js []byte, isJSON bool) *parseError {
	root, err := parseJSONTree(js)
	if err != nil {
		return &parseError{problems: []Problem{{Line: 1, Column: 1, Message: fmt.Sprintf("not valid JSON: %v", err)}}}
	}
	w := &walker{json: isJSON, dropped: map[string]bool{}}
	md := (&configv1.Gateway{}).ProtoReflect().Descriptor()
	if root.kind != '{' {
		w.add(nil, false, func(written *tree) string {
			if written == nil {
				written = root
			}
			return "the file must be " + w.noun('{') + " of sections (" + strings.Join(fieldNames(md, 5), ", ") + ", ...), not " + w.got(written)
		})
		w.dropped["groups"] = true // "no groups" would only repeat it
		w.buf = append(w.buf, "{}"...)
	} else {
		w.message(root, md, nil, "")
	}
	e := &parseError{dropped: w.dropped, gw: &configv1.Gateway{}}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(w.buf, e.gw); err != nil {
		// The walker accepted something protojson does not: say what
		// protojson says (FuzzSchemaWalker looks for such documents).
		e.gw = nil
		e.problems = append(e.problems, Problem{Message: "does not match the schema: " + strings.ReplaceAll(err.Error(), "\u00a0", " ")})
	}
	if len(w.problems) == 0 {
		return e
	}
	if isJSON {
		e.pos = root
	} else {
		e.pos, _ = parseYAMLTree(data)
	}
	for _, sp := range w.problems {
		e.problems = append(e.problems, sp.place(e.pos))
	}
	sortProblems(e.problems)
	return e
}

// place resolves a walker problem in the document as written.
func (sp schemaProblem) place(pos *tree) Problem {
	p := Problem{Path: spell(sp.elems)}
	t := pos
	var key treeKey
	found := t != nil
	for _, e := range sp.elems {
		if t == nil {
			found = false
			break
		}
		if e.isIndex {
			if t.kind != '[' || e.index >= len(t.items) {
				found = false
				break
			}
			t, key = t.items[e.index], treeKey{}
			p.Line, p.Column = t.line, t.col
			continue
		}
		k, v, ok := t.member(e.name, e.occ)
		if !ok {
			found = false
			break
		}
		t, key = v, k
		p.Line, p.Column = t.line, t.col
	}
	if pos != nil && len(sp.elems) == 0 {
		p.Line, p.Column = pos.line, pos.col
	}
	if found && sp.atKey && key.line > 0 {
		p.Line, p.Column = key.line, key.col
	}
	var written *tree
	if found {
		written = t
	}
	p.Message = sp.msg(written)
	return p
}

// locate finds the node of a semantic problem's path (proto names, as the
// builder writes them) in the document as written: it returns the
// position of the deepest node found (a scalar's value, a mapping's or
// list's key) and the path as the user spelt it.
func locate(pos *tree, path string) (line, col int, spelt string) {
	t := pos
	if t == nil {
		return 0, 0, path
	}
	line, col = t.line, t.col
	var out strings.Builder
	rest := path
	for rest != "" {
		if rest[0] == '[' {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				break
			}
			n, err := strconv.Atoi(rest[1:end])
			if err != nil || t.kind != '[' || n < 0 || n >= len(t.items) {
				break
			}
			out.WriteString(rest[:end+1])
			rest = rest[end+1:]
			t = t.items[n]
			line, col = t.line, t.col
			continue
		}
		seg := rest
		if out.Len() > 0 {
			if rest[0] != '.' {
				break
			}
			seg = rest[1:]
		}
		k, v, n := t.matchKey(seg)
		if v == nil {
			break
		}
		if out.Len() > 0 {
			out.WriteByte('.')
		}
		out.WriteString(k.name)
		rest = seg[n:]
		t = v
		if t.kind == '{' || t.kind == '[' {
			line, col = k.line, k.col
		} else {
			line, col = t.line, t.col
		}
	}
	return line, col, out.String() + rest
}

// matchKey finds the key of mapping t that path begins with, as written
// or in snake_case (a camelCase key), followed by the end, "." or "[":
// the longest, since map keys may hold dots. n is the length matched.
func (t *tree) matchKey(path string) (treeKey, *tree, int) {
	var bk treeKey
	var bv *tree
	bn := 0
	var try func(t *tree, depth int)
	try = func(t *tree, depth int) {
		if t == nil || t.kind != '{' || depth > 32 {
			return
		}
		for i, k := range t.keys {
			for _, cand := range []string{k.name, camelToSnake(k.name)} {
				if len(cand) > bn && strings.HasPrefix(path, cand) && (len(path) == len(cand) || path[len(cand)] == '.' || path[len(cand)] == '[') {
					bk, bv, bn = k, t.items[i], len(cand)
				}
			}
		}
		for _, m := range t.merged {
			try(m, depth+1)
		}
	}
	try(t, 0)
	return bk, bv, bn
}

func camelToSnake(s string) string {
	if strings.ToLower(s) == s {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// under reports whether path is canon or below it.
func under(path, canon string) bool {
	return strings.HasPrefix(path, canon) && (len(path) == len(canon) || path[len(canon)] == '.' || path[len(canon)] == '[')
}

// sortProblems orders problems by position, those without one first.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Column < ps[j].Column
	})
}
