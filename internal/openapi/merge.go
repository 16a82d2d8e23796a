package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Merge puts an imported group into a configuration file's text and
// returns the new text. Everything else of the file is kept (node editing
// with go.yaml.in/yaml/v3: comments stay, indentation is re-written). A
// group or throttle policy of the same name is refused unless replace; a
// throttle policy with the same definition is shared (bindings added).
// A JSON file stays JSON.
func Merge(file []byte, res *Result, replace bool) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(file, &doc); err != nil {
		return nil, fmt.Errorf("the configuration is not valid YAML or JSON: %v", err)
	}
	isJSON := bytes.HasPrefix(bytes.TrimSpace(file), []byte("{"))
	if len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("the configuration's top level is not a mapping")
	}
	groups := seq(root, "groups")
	gnode, err := protoNode(res.Group)
	if err != nil {
		return nil, err
	}
	if i := findNamed(groups, "name", res.Group.GetName()); i >= 0 {
		if !replace {
			return nil, fmt.Errorf("group %q is already defined (line %d): give --replace to replace it, or another --group", res.Group.GetName(), groups.Content[i].Line)
		}
		groups.Content[i] = gnode
	} else {
		groups.Content = append(groups.Content, gnode)
	}
	if len(res.Policies) > 0 || len(res.Bindings) > 0 {
		pols := seq(root, "throttle_policies")
		for _, p := range res.Policies {
			i := findNamed(pols, "name", p.GetName())
			if i < 0 {
				n, err := protoNode(p)
				if err != nil {
					return nil, err
				}
				pols.Content = append(pols.Content, n)
				continue
			}
			old := &configv1.ThrottlePolicy{}
			if err := decodeProto(pols.Content[i], old); err != nil {
				return nil, fmt.Errorf("throttle policy %q (line %d): %v", p.GetName(), pols.Content[i].Line, err)
			}
			same := proto.Clone(old).(*configv1.ThrottlePolicy)
			np := proto.Clone(p).(*configv1.ThrottlePolicy)
			same.Bindings, np.Bindings = nil, nil
			if !proto.Equal(same, np) && !replace {
				return nil, fmt.Errorf("throttle policy %q is already defined (line %d) with other limits: give --replace to replace it", p.GetName(), pols.Content[i].Line)
			}
			// Keep the bindings to other groups' APIs, then this import's.
			for _, b := range old.GetBindings() {
				if !strings.HasPrefix(b.GetApi(), res.Group.GetName()+"/") {
					np.Bindings = append(np.Bindings, b)
				}
			}
			np.Bindings = append(np.Bindings, p.GetBindings()...)
			n, err := protoNode(np)
			if err != nil {
				return nil, err
			}
			pols.Content[i] = n
		}
		for name, apis := range res.Bindings {
			i := findNamed(pols, "name", name)
			if i < 0 {
				return nil, fmt.Errorf("x-apigateway-ratelimit names throttle policy %q, defined neither in the document (x-apigateway-ratelimits) nor in the configuration", name)
			}
			bs := seq(pols.Content[i], "bindings")
			for _, api := range apis {
				if findNamed(bs, "api", api) < 0 {
					bs.Content = append(bs.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{scalar("api"), scalar(api)}})
				}
			}
		}
	}
	if isJSON {
		var b bytes.Buffer
		writeJSON(&b, root, "")
		b.WriteByte('\n')
		return b.Bytes(), nil
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// seq returns the sequence under key in m, made if absent.
func seq(m *yaml.Node, key string) *yaml.Node {
	if n := get(m, key); n != nil {
		if n.Kind != yaml.SequenceNode {
			n.Kind, n.Tag, n.Value, n.Content = yaml.SequenceNode, "!!seq", "", nil
		}
		return n
	}
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	m.Content = append(m.Content, scalar(key), n)
	return n
}

// findNamed is the index of the item of s whose key is value, or -1.
func findNamed(s *yaml.Node, key, value string) int {
	for i, it := range s.Content {
		if n := get(it, key); n != nil && n.Value == value {
			return i
		}
	}
	return -1
}

// protoNode is m as a block-style YAML node with proto field names, in
// field order.
func protoNode(m proto.Message) (*yaml.Node, error) {
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(js, &n); err != nil {
		return nil, err
	}
	plain(&n)
	return n.Content[0], nil
}

// writeJSON writes a node as indented JSON, keeping the key order.
func writeJSON(b *bytes.Buffer, n *yaml.Node, indent string) {
	in := indent + "  "
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteString("{\n")
		for i := 0; i+1 < len(n.Content); i += 2 {
			b.WriteString(in)
			k, _ := json.Marshal(n.Content[i].Value)
			b.Write(k)
			b.WriteString(": ")
			writeJSON(b, n.Content[i+1], in)
			if i+2 < len(n.Content) {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[\n")
		for i, c := range n.Content {
			b.WriteString(in)
			writeJSON(b, c, in)
			if i+1 < len(n.Content) {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	case yaml.AliasNode:
		writeJSON(b, n.Alias, indent)
	default:
		switch n.Tag {
		case "!!int", "!!float", "!!bool":
			b.WriteString(n.Value)
		case "!!null":
			b.WriteString("null")
		default:
			s, _ := json.Marshal(n.Value)
			b.Write(s)
		}
	}
}

// UnifiedDiff is a unified diff of two texts in one hunk: the lines between
// their common beginning and end, with 3 lines of context.
func UnifiedDiff(aName, bName string, a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	al, bl := lines(a), lines(b)
	p := 0
	for p < len(al) && p < len(bl) && al[p] == bl[p] {
		p++
	}
	s := 0
	for s < len(al)-p && s < len(bl)-p && al[len(al)-1-s] == bl[len(bl)-1-s] {
		s++
	}
	start := max(p-3, 0)
	aEnd, bEnd := min(len(al)-s+3, len(al)), min(len(bl)-s+3, len(bl))
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n@@ -%s +%s @@\n", aName, bName, hunkRange(start, aEnd), hunkRange(start, bEnd))
	for i := start; i < p; i++ {
		out.WriteString(" " + al[i] + "\n")
	}
	for i := p; i < len(al)-s; i++ {
		out.WriteString("-" + al[i] + "\n")
	}
	for i := p; i < len(bl)-s; i++ {
		out.WriteString("+" + bl[i] + "\n")
	}
	for i := len(al) - s; i < aEnd; i++ {
		out.WriteString(" " + al[i] + "\n")
	}
	return out.String()
}

func hunkRange(start, end int) string {
	if end-start == 0 {
		return strconv.Itoa(start) + ",0"
	}
	return strconv.Itoa(start+1) + "," + strconv.Itoa(end-start)
}

func lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
