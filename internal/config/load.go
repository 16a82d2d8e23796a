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
	"fmt"
	"os"
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
	return load(source, data, opts, Parse, nil)
}

// Load is the package's Load, parsing with p, and building with the
// models of the last configuration p loaded: a group whose digest did not
// change keeps its model (a copy, with the policy bindings of the new
// configuration).
func (p *Parser) Load(source string, data []byte, opts Options) (*model.Snapshot, error) {
	p.mu.Lock()
	reuse := p.models
	p.mu.Unlock()
	snap, err := load(source, data, opts, p.Parse, reuse)
	if err != nil {
		return nil, err
	}
	models := make(map[string]*model.Group, len(snap.Groups))
	for _, g := range snap.Groups {
		models[g.Digest] = g
	}
	p.mu.Lock()
	p.models = models
	p.mu.Unlock()
	return snap, nil
}

// load parses data with parse and builds it, reusing the group models in
// reuse (see build).
func load(source string, data []byte, opts Options, parse func([]byte) (*configv1.Gateway, error), reuse map[string]*model.Group) (*model.Snapshot, error) {
	gw, err := parse(data)
	if err != nil {
		return nil, &Error{Source: source, Problems: []Problem{{Message: err.Error()}}}
	}
	return build(source, gw, opts, reuse)
}

// Parse decodes YAML or JSON into the schema message. Unknown fields are
// errors, so a misspelt key is reported instead of silently ignored.
func Parse(data []byte) (*configv1.Gateway, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("configuration is %d bytes, larger than the %d allowed", len(data), MaxFileSize)
	}
	js := data
	if !isJSONObject(data) {
		// YAML (a superset of JSON) goes through JSON; a file that already
		// is a JSON object skips the conversion, the costliest step of
		// loading a large generated configuration.
		var err error
		if js, err = yaml.YAMLToJSON(data); err != nil {
			return nil, fmt.Errorf("not valid YAML or JSON: %v", err)
		}
	}
	gw := &configv1.Gateway{}
	if strings.TrimSpace(string(js)) == "null" {
		return gw, nil
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(js, gw); err != nil {
		return nil, fmt.Errorf("does not match the schema: %s", strings.ReplaceAll(err.Error(), "\u00a0", " "))
	}
	return gw, nil
}

// isJSONObject reports whether data is a JSON object (checked exactly, so
// a YAML flow mapping such as {a: 1} still takes the YAML path).
func isJSONObject(data []byte) bool {
	t := bytes.TrimSpace(data)
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}
