package etcdstore

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/release"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Kind marks a value under the prefix as a release body of this format.
const Kind = "apigw.release/v1"

// encodingProtoGzip is the only config encoding: the configuration as
// deterministic protobuf binary, gzip-compressed (a release of thousands of
// APIs then fits etcd's default 1.5 MiB request limit).
const encodingProtoGzip = "proto+gzip"

// gzipLevel is the compression of a release's configuration. A publish
// waits for it: for 10,000 APIs (1.1 MB of binary) level 2 takes ~4 ms
// where the default level takes ~12 ms, for a body ~10 % larger (12.8 %
// of the binary instead of 11.6 %); decompression costs the same.
const gzipLevel = 2

// maxConfigBytes bounds a release's decompressed configuration, as
// config.MaxFileSize bounds a configuration file.
const maxConfigBytes = config.MaxFileSize

// maxEnvelopeBytes bounds a release body read from the store.
const maxEnvelopeBytes = 64 << 20

// envName is the rule for environment names (config's reEnvName): letters,
// digits and _ only, so a name never escapes its key segment.
var envName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// envelope is a release body as stored under releases/<env>/<number>.
type envelope struct {
	Kind    string   `json:"kind"`
	Release *relMeta `json:"release"`
	// Encoding says how Config is encoded (encodingProtoGzip).
	Encoding string `json:"config_encoding"`
	// Config is the encoded configuration (base64 in JSON).
	Config []byte `json:"config"`
	// SHA256 is the hex SHA-256 of the configuration's protobuf binary
	// (before compression).
	SHA256 string `json:"config_sha256"`
}

// relMeta is a release's metadata (release.Release without Config).
type relMeta struct {
	Env          string    `json:"env"`
	Number       uint64    `json:"number"`
	Created      time.Time `json:"created"`
	Note         string    `json:"note,omitempty"`
	Publisher    string    `json:"publisher,omitempty"`
	SourceDigest string    `json:"source_digest"`
	RollbackOf   uint64    `json:"rollback_of,omitempty"`
}

// encodeRelease renders r as a release body.
func encodeRelease(r *release.Release) ([]byte, error) {
	if r.Config == nil {
		return nil, errors.New("release has no configuration")
	}
	pb, err := proto.MarshalOptions{Deterministic: true}.Marshal(r.Config)
	if err != nil {
		return nil, fmt.Errorf("encoding the configuration: %v", err)
	}
	sum := sha256.Sum256(pb)
	var z bytes.Buffer
	zw, err := gzip.NewWriterLevel(&z, gzipLevel)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(pb); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return json.Marshal(envelope{
		Kind: Kind,
		Release: &relMeta{
			Env: r.Env, Number: r.Number, Created: r.Created, Note: r.Note,
			Publisher: r.Publisher, SourceDigest: r.SourceDigest, RollbackOf: r.RollbackOf,
		},
		Encoding: encodingProtoGzip,
		Config:   z.Bytes(),
		SHA256:   hex.EncodeToString(sum[:]),
	})
}

// decodeRelease parses a release body, checking its kind, its metadata,
// the digest of its configuration and the configuration itself. Any value
// that is not a release body written by encodeRelease is refused with an
// error; it never panics, whatever data holds.
func decodeRelease(data []byte) (*release.Release, error) {
	if len(data) > maxEnvelopeBytes {
		return nil, fmt.Errorf("value is %d bytes, larger than the %d allowed", len(data), maxEnvelopeBytes)
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("not a release body: %v", err)
	}
	if dec.More() {
		return nil, errors.New("not a release body: data after the JSON object")
	}
	switch {
	case env.Kind != Kind:
		return nil, fmt.Errorf("kind %q, want %q", clip(env.Kind), Kind)
	case env.Release == nil:
		return nil, errors.New("no release metadata")
	case !envName.MatchString(env.Release.Env):
		return nil, fmt.Errorf("invalid environment name %q", clip(env.Release.Env))
	case env.Release.Number == 0:
		return nil, errors.New("release number 0")
	case env.Encoding != encodingProtoGzip:
		return nil, fmt.Errorf("config encoding %q, want %q", clip(env.Encoding), encodingProtoGzip)
	}
	want, err := hex.DecodeString(env.SHA256)
	if err != nil || len(want) != sha256.Size {
		return nil, errors.New("config_sha256 is not a hex SHA-256")
	}
	zr, err := gzip.NewReader(bytes.NewReader(env.Config))
	if err != nil {
		return nil, fmt.Errorf("config is not gzip data: %v", err)
	}
	pb, err := io.ReadAll(io.LimitReader(zr, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config is not gzip data: %v", err)
	}
	if len(pb) > maxConfigBytes {
		return nil, fmt.Errorf("config is larger than the %d bytes allowed", maxConfigBytes)
	}
	if sum := sha256.Sum256(pb); !bytes.Equal(sum[:], want) {
		return nil, errors.New("config does not match its SHA-256 (corrupted)")
	}
	gw := &configv1.Gateway{}
	if err := proto.Unmarshal(pb, gw); err != nil {
		return nil, fmt.Errorf("config is not a gateway configuration: %v", err)
	}
	m := env.Release
	return &release.Release{
		Env: m.Env, Number: m.Number, Created: m.Created, Note: m.Note,
		Publisher: m.Publisher, SourceDigest: m.SourceDigest, RollbackOf: m.RollbackOf,
		Config: gw,
	}, nil
}

// clip keeps a foreign string short in messages.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
