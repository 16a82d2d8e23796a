// Package config loads, validates and resolves gateway configuration files
// into an immutable model.Snapshot.
//
// Files are YAML or JSON following the schema in proto/apigw/config/v1. A
// configuration is accepted whole or refused whole: Load returns an *Error
// listing every problem with its field path, never a partial snapshot.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// MaxFileSize bounds the size of a configuration file.
const MaxFileSize = 64 << 20

// Options change how secrets are resolved; the zero value uses the process
// environment and the file system.
type Options struct {
	// LookupEnv resolves secret.env references. Default os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ReadFile resolves secret.file references. Default os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// GRPCAddress and AdminAddress, when set, replace server.grpc_address
	// and server.admin_address (the serve command's flags, or the address
	// actually bound when the port was 0). The gRPC address is also what
	// Envoy is told to reach unless server.advertise_address is set.
	GRPCAddress, AdminAddress string
}

// LoadFile reads, validates and resolves the configuration file at path.
func LoadFile(path string, opts Options) (*model.Snapshot, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &Error{Source: path, Problems: []Problem{{Message: fmt.Sprintf("cannot read: %v", err)}}}
	}
	if fi.Size() > MaxFileSize {
		return nil, &Error{Source: path, Problems: []Problem{{Message: fmt.Sprintf("file is %d bytes, larger than the %d allowed", fi.Size(), MaxFileSize)}}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Source: path, Problems: []Problem{{Message: fmt.Sprintf("cannot read: %v", err)}}}
	}
	return Load(path, data, opts)
}

// Load parses data (YAML or JSON) named source, validates it and resolves it.
func Load(source string, data []byte, opts Options) (*model.Snapshot, error) {
	return load(source, data, opts, Parse, nil, nil, nil)
}

// Load is the package's Load, parsing with p, and building with the
// models of the last configuration p loaded: a group whose digest did not
// change keeps its API models, and so does each API of a changed group
// whose own digest did not change (shared with the previous snapshot, or
// copied when the new configuration's policies bind to it).
func (p *Parser) Load(source string, data []byte, opts Options) (*model.Snapshot, error) {
	reuse, apis := p.reuse()
	return p.remember(load(source, data, opts, p.Parse, reuse, apis, p.digests))
}

// Compose is Load with compose between parsing and building: the
// configuration built is compose's result from the one data holds (the
// release store composes each environment's current release with the
// file's). Problems of the file itself are reported with their lines;
// those of the composed configuration with their paths in it. compose must
// not change its argument (its groups may be shared with earlier results).
func (p *Parser) Compose(source string, data []byte, opts Options, compose func(*configv1.Gateway) (*configv1.Gateway, error)) (*model.Snapshot, error) {
	gw, err := p.Parse(data)
	if err != nil {
		// The schema's problems, with their lines (those of the values
		// are the composed configuration's).
		var pe *parseError
		if errors.As(err, &pe) && len(pe.problems) > 0 {
			problems := slices.Clone(pe.problems)
			sortProblems(problems)
			return nil, &Error{Source: source, Problems: problems}
		}
		return nil, &Error{Source: source, Problems: []Problem{{Message: err.Error()}}}
	}
	composed, err := compose(gw)
	if err != nil {
		return nil, &Error{Source: source, Problems: []Problem{{Message: err.Error()}}}
	}
	reuse, apis := p.reuse()
	return p.remember(build(source, composed, opts, reuse, apis, p.digests))
}

// reuse returns the group models of the last configuration p built (with
// their API models), and that snapshot's APIs.
func (p *Parser) reuse() (map[string]*model.Group, map[string]*model.API) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.models, p.apiModels
}

// remember keeps the group models of snap for the next build, and returns
// snap and err.
func (p *Parser) remember(snap *model.Snapshot, err error) (*model.Snapshot, error) {
	if err != nil {
		return nil, err
	}
	models := make(map[string]*model.Group, len(snap.Groups))
	for _, g := range snap.Groups {
		models[g.Digest] = g
	}
	p.mu.Lock()
	p.models, p.apiModels = models, snap.APIs
	p.mu.Unlock()
	return snap, nil
}

// load parses data with parse and builds it, reusing the group models in
// reuse and the APIs map apis of their snapshot (see build). A refusal lists every problem of the file, those of
// the schema (unknown keys, wrong types) and those of the values together,
// each with its line and column.
func load(source string, data []byte, opts Options, parse func([]byte) (*configv1.Gateway, error), reuse map[string]*model.Group, apis map[string]*model.API, digest func(*configv1.Gateway) digests) (*model.Snapshot, error) {
	gw, err := parse(data)
	var pe *parseError
	if err != nil {
		if !errors.As(err, &pe) {
			return nil, &Error{Source: source, Problems: []Problem{{Message: err.Error()}}}
		}
		if pe.gw == nil {
			return nil, &Error{Source: source, Problems: pe.problems}
		}
		gw, reuse, apis, digest = pe.gw, nil, nil, nil
	}
	snap, err := build(source, gw, opts, reuse, apis, digest)
	if pe == nil && err == nil {
		return snap, nil
	}
	var problems []Problem
	var pos *tree
	if pe != nil {
		problems, pos = pe.problems, pe.pos
	}
	var be *Error
	if errors.As(err, &be) {
		if pos == nil {
			pos = positions(data)
		}
	next:
		for _, p := range be.Problems {
			if pe != nil {
				for canon := range pe.dropped {
					if under(p.Path, canon) {
						continue next // a consequence of a schema problem
					}
				}
			}
			p.Line, p.Column, p.Path = locate(pos, p.Path)
			problems = append(problems, p)
		}
	} else if err != nil {
		problems = append(problems, Problem{Message: err.Error()})
	}
	sortProblems(problems)
	return nil, &Error{Source: source, Problems: problems}
}

// positions parses data as written, for the lines and columns of its
// problems; nil if it cannot.
func positions(data []byte) *tree {
	var t *tree
	var err error
	if isJSONObject(data) {
		t, err = parseJSONTree(data)
	} else {
		t, err = parseYAMLTree(data)
	}
	if err != nil {
		return nil
	}
	return t
}

// Parse decodes YAML or JSON into the schema message. Unknown fields are
// errors, so a misspelt key is reported instead of silently ignored.
//
// The document is decoded by protojson. Only when protojson refuses it is
// it walked against the schema (schema.go), which lists every problem with
// its line, column and path, and accepts the plain numbers protojson
// refuses for sizes and durations (strings in the schema).
func Parse(data []byte) (*configv1.Gateway, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("configuration is %d bytes, larger than the %d allowed", len(data), MaxFileSize)
	}
	js := data
	isJSON := isJSONObject(data)
	if !isJSON {
		// YAML (a superset of JSON) goes through JSON; a file that already
		// is a JSON object skips the conversion, the costliest step of
		// loading a large generated configuration.
		var err error
		if js, err = yaml.YAMLToJSON(data); err != nil {
			return nil, syntaxError(err)
		}
	}
	gw := &configv1.Gateway{}
	if strings.TrimSpace(string(js)) == "null" {
		return gw, nil
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(js, gw); err == nil {
		return gw, nil
	}
	e := decodeSlow(data, js, isJSON)
	if len(e.problems) == 0 {
		return e.gw, nil
	}
	return nil, e
}

var reYAMLLine = regexp.MustCompile(`^yaml: line (\d+): `)

// syntaxError is a YAML syntax error, placed at its line when the parser
// says which.
func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	p := Problem{Message: "not valid YAML or JSON: " + msg}
	if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Column = 1
		p.Message = "not valid YAML or JSON: " + msg[len(m[0]):]
	}
	return &parseError{problems: []Problem{p}}
}

// isJSONObject reports whether data is a JSON object (checked exactly, so
// a YAML flow mapping such as {a: 1} still takes the YAML path).
func isJSONObject(data []byte) bool {
	t := bytes.TrimSpace(data)
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}
