package keypair

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/hmacpool"
	"github.com/apigwio/apigw/internal/ows"
)

// Request is the verifier's view of an HTTP request.
type Request struct {
	// Method is the request method as received ("GET").
	Method string
	// Target is the raw request-target exactly as received: the path plus an
	// optional "?query", not decoded or normalised (Envoy's :path). Empty
	// means "/".
	Target string
	// Proto is the protocol version for the request-line pseudo-header,
	// "HTTP/1.1" or "HTTP/1.0". "HTTP/2" and "HTTP/3" (Envoy's spelling)
	// are signed as "HTTP/2.0" and "HTTP/3.0" (Kong's); empty means
	// "HTTP/1.1".
	Proto string
	// Host is the Host / :authority value, used for the signed header
	// "host" when Header has no "host" entry (Envoy presents Host as
	// :authority, which is tried next).
	Host string
	// Header gives the request headers by lower-case name
	// (signing.MapHeader, signing.PairHeader or any signing.Header).
	Header signing.Header
	// Body is the request body, when forwarded.
	Body []byte
	// HasBody is true when Body holds the complete request body. Body
	// validation fails closed (KindBodyUnavailable) without it.
	HasBody bool
}

// Default clock skews.
const (
	// DefaultClockSkew is Tencent's allowed X-Date skew (900 s), used when
	// Policy.ClockSkew is zero or negative.
	DefaultClockSkew = 900 * time.Second
	// KongClockSkew is Kong's default clock_skew (300 s).
	KongClockSkew = 300 * time.Second
)

// Policy is the per-API configuration of key-pair verification.
type Policy struct {
	// AllowedAlgorithms is the algorithm allow-list; empty allows all four.
	AllowedAlgorithms []Algorithm
	// ClockSkew is the largest allowed difference, in either direction,
	// between a signed X-Date / Date and the server time; zero or negative
	// means DefaultClockSkew.
	ClockSkew time.Duration
	// EnforceHeaders are names (any case; pseudo-headers allowed) that must
	// be in the signed list.
	EnforceHeaders []string
	// ValidateBody turns the Digest check on: a Digest header must be signed
	// and its SHA-256 entry must be base64(sha256(body)); without a Digest
	// header only an empty body passes.
	ValidateBody bool
}

// Validate checks the policy itself (for configuration loading): every
// allowed algorithm must be valid and every enforced name a valid signed
// header name.
func (p Policy) Validate() error {
	for _, a := range p.AllowedAlgorithms {
		if !a.Valid() {
			return &Error{Kind: KindUnsupportedAlgorithm, Message: "keypair: invalid algorithm " + a.String() + " in policy", Status: http.StatusInternalServerError}
		}
	}
	for _, h := range p.EnforceHeaders {
		if !validHeaderName(lower(h)) {
			return &Error{Kind: KindInvalidAuthorization, Message: "keypair: invalid enforced header name " + clip(h) + " in policy", Status: http.StatusInternalServerError}
		}
	}
	return nil
}

func (p Policy) allows(a Algorithm) bool {
	if len(p.AllowedAlgorithms) == 0 {
		return a.Valid()
	}
	for _, x := range p.AllowedAlgorithms {
		if x == a {
			return true
		}
	}
	return false
}

func (p Policy) skew() time.Duration {
	if p.ClockSkew <= 0 {
		return DefaultClockSkew
	}
	return p.ClockSkew
}

// CheckCredential runs the checks of [Verify] that need neither the request
// nor the secret, in this order: id/username and signature present
// (KindMissingIDOrSignature); the id no longer than MaxIDLen and the signed
// list well formed (KindInvalidAuthorization); the algorithm supported and
// allowed (KindUnsupportedAlgorithm); every enforced header signed
// (KindEnforcedHeaderNotSigned). Kong runs them before it looks the key up;
// so can the caller.
func (p Policy) CheckCredential(c Credential) error {
	if c.ID == "" || (len(c.Signature) == 0 && c.SignatureB64 == "") {
		return NewError(KindMissingIDOrSignature)
	}
	if len(c.ID) > MaxIDLen || len(c.Headers) > MaxHeaders {
		return NewError(KindInvalidAuthorization)
	}
	for _, h := range c.Headers {
		if !validHeaderName(h) {
			return NewError(KindInvalidAuthorization)
		}
	}
	if !c.Algorithm.Valid() {
		name := c.AlgorithmName
		if name == "" && c.Algorithm != 0 {
			name = c.Algorithm.String()
		}
		return UnsupportedAlgorithmError(name)
	}
	if !p.allows(c.Algorithm) {
		return UnsupportedAlgorithmError(c.Algorithm.String())
	}
	for _, e := range p.EnforceHeaders {
		if !containsFold(c.Headers, e) {
			return &Error{Kind: KindEnforcedHeaderNotSigned, Message: missingHeaderMessage(lower(e)), Status: http.StatusForbidden}
		}
	}
	return nil
}

// containsFold reports whether list (lower case) contains name, ignoring
// ASCII case.
func containsFold(list []string, name string) bool {
	for _, h := range list {
		if len(h) == len(name) && strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

func contains(list []string, name string) bool {
	for _, h := range list {
		if h == name {
			return true
		}
	}
	return false
}

// Verify checks cred over req with the secret at time now. It returns nil or
// an *Error. The checks run in this order, the first failure being
// reported:
//
//  1. [Policy.CheckCredential].
//  2. Date: at least one of x-date and date must be both signed and present
//     (KindMissingDate); every signed one that is present must be a single
//     HTTP-date ([http.ParseTime]: IMF-fixdate GMT, RFC 850 or asctime;
//     KindInvalidDate) within pol.ClockSkew of now in either direction
//     (KindDateOutOfRange).
//  3. The signing string: every signed header must be present
//     (KindMissingHeader naming it).
//  4. The signature must be padded standard base64 of the algorithm's MAC
//     size (KindMalformedSignature), and then match, compared in constant
//     time (KindSignatureMismatch). An empty secret never matches. When the
//     list contains request-line and the first reading does not match, the
//     signing string is recomputed once with the request line written as
//     "request-line: <line>" (the spec's literal reading) instead of bare
//     (Kong's).
//  5. With pol.ValidateBody, the Digest header (see [Policy]):
//     KindBodyUnavailable, KindDigestRequired, KindDigestNotSigned,
//     KindDigestMismatch. Body errors thus only reach a client that signs
//     with the right secret.
//
// Verify allocates nothing on success with signing.MapHeader or
// signing.PairHeader headers and a parsed Credential.
func Verify(req *Request, cred Credential, secret []byte, pol Policy, now time.Time) error {
	if req == nil {
		return NewError(KindInvalidAuthorization)
	}
	if err := pol.CheckCredential(cred); err != nil {
		return err
	}
	st := getState()
	defer putState(st)

	if err := st.checkDates(req, cred.Headers, pol.skew(), now); err != nil {
		return err
	}
	if err := st.buildSigningString(req, cred.Headers, false); err != nil {
		return err
	}

	alg := cred.Algorithm
	want := cred.Signature
	if len(want) != alg.Size() {
		if want != nil {
			return NewError(KindMalformedSignature)
		}
		// A hand-built Credential may carry only the base64 form.
		want = decodeSignature(st.want[:0], cred.SignatureB64, alg)
		if want == nil {
			return NewError(KindMalformedSignature)
		}
	}
	if len(secret) == 0 {
		return NewError(KindSignatureMismatch) // fail closed on a misconfigured key
	}
	if !hmac.Equal(st.hmacSum(alg, secret, st.buf), want) {
		if !contains(cred.Headers, RequestLine) {
			return NewError(KindSignatureMismatch)
		}
		if err := st.buildSigningString(req, cred.Headers, true); err != nil {
			return err
		}
		if !hmac.Equal(st.hmacSum(alg, secret, st.buf), want) {
			return NewError(KindSignatureMismatch)
		}
	}
	if pol.ValidateBody {
		return st.checkDigest(req, cred.Headers)
	}
	return nil
}

// checkDates implements step 2 of Verify.
func (st *state) checkDates(req *Request, headers []string, skew time.Duration, now time.Time) error {
	found := false
	for _, name := range [2]string{headerXDate, headerDate} {
		if !contains(headers, name) {
			continue
		}
		st.vals = appendValues(st.vals[:0], req.Header, name)
		if len(st.vals) == 0 {
			continue // reported as a missing signed header later
		}
		found = true
		if len(st.vals) > 1 {
			return NewError(KindInvalidDate)
		}
		t, ok := parseHTTPDate(ows.Trim(st.vals[0]))
		if !ok {
			return NewError(KindInvalidDate)
		}
		if d := now.Sub(t); d > skew || d < -skew {
			return NewError(KindDateOutOfRange)
		}
	}
	if !found {
		return NewError(KindMissingDate)
	}
	return nil
}

// checkDigest implements step 5 of Verify.
func (st *state) checkDigest(req *Request, headers []string) error {
	if !req.HasBody {
		return NewError(KindBodyUnavailable)
	}
	st.vals = appendValues(st.vals[:0], req.Header, headerDigest)
	if len(st.vals) == 0 {
		if len(req.Body) == 0 {
			return nil
		}
		return NewError(KindDigestRequired)
	}
	if !contains(headers, headerDigest) {
		return NewError(KindDigestNotSigned)
	}
	want := st.bodyDigest(req.Body)
	found := false
	for _, v := range st.vals {
		for v != "" {
			var entry string
			if i := strings.IndexByte(v, ','); i >= 0 {
				entry, v = v[:i], v[i+1:]
			} else {
				entry, v = v, ""
			}
			entry = ows.Trim(entry)
			eq := strings.IndexByte(entry, '=')
			if eq < 0 || !strings.EqualFold(entry[:eq], "SHA-256") {
				continue
			}
			found = true
			if entry[eq+1:] != string(want) {
				return NewError(KindDigestMismatch)
			}
		}
	}
	if !found {
		return NewError(KindDigestRequired)
	}
	return nil
}

// bodyDigest returns base64(sha256(body)) in st.b64.
func (st *state) bodyDigest(body []byte) []byte {
	if st.digest == nil {
		st.digest = sha256.New()
	}
	h := st.digest
	h.Reset()
	h.Write(body)
	sum := h.Sum(st.sum[:0])
	base64.StdEncoding.Encode(st.b64[:], sum)
	return st.b64[:base64.StdEncoding.EncodedLen(sha256.Size)]
}

// SigningString returns the string that is signed for req and the header
// names (any case; they are lower-cased) — the first reading of Verify, with
// a bare request line. It is meant for debugging and `explain` output.
// Errors are *Error: KindInvalidAuthorization for an invalid name or more
// than MaxHeaders names, KindMissingHeader for a header absent from req.
func SigningString(req *Request, headers []string) (string, error) {
	st, err := signingState(req, headers)
	if err != nil {
		return "", err
	}
	defer putState(st)
	return string(st.buf), nil
}

// Signature returns base64(HMAC-alg(secret, signing string)) for req and the
// header names (any case), as a client computes it. Errors are those of
// [SigningString], and KindUnsupportedAlgorithm.
func Signature(req *Request, alg Algorithm, headers []string, secret []byte) (string, error) {
	if !alg.Valid() {
		return "", UnsupportedAlgorithmError(alg.String())
	}
	st, err := signingState(req, headers)
	if err != nil {
		return "", err
	}
	defer putState(st)
	return base64.StdEncoding.EncodeToString(st.hmacSum(alg, secret, st.buf)), nil
}

// signingState builds the signing string of req for the header names (any
// case) into a pooled state; the caller returns it with putState.
func signingState(req *Request, headers []string) (*state, error) {
	names, err := normaliseNames(headers)
	if err != nil {
		return nil, err
	}
	if req == nil {
		req = &Request{}
	}
	st := getState()
	if err := st.buildSigningString(req, names, false); err != nil {
		putState(st)
		return nil, err
	}
	return st, nil
}

// normaliseNames lower-cases and checks a list of signed header names.
func normaliseNames(headers []string) ([]string, error) {
	if len(headers) > MaxHeaders {
		return nil, NewError(KindInvalidAuthorization)
	}
	names, copied := headers, false
	for i, h := range headers {
		l := lower(h)
		if !validHeaderName(l) {
			return nil, NewError(KindInvalidAuthorization)
		}
		if l != h {
			if !copied {
				names, copied = append([]string(nil), headers...), true
			}
			names[i] = l
		}
	}
	return names, nil
}

// state holds the scratch memory of one verification; it is pooled so that
// the hot path does not allocate.
type state struct {
	buf  []byte   // signing string
	vals []string // header values of one name

	digest hash.Hash // SHA-256 of the body

	sum, mac [maxMACSize]byte
	want     [maxMACSize]byte
	b64      [64]byte
}

var statePool = sync.Pool{New: func() any { return new(state) }}

func getState() *state { return statePool.Get().(*state) }

// maxPooledBuf is the largest signing-string buffer kept in the pool.
const maxPooledBuf = 64 << 10

func putState(st *state) {
	clear(st.mac[:])
	clear(st.vals[:cap(st.vals)])
	st.vals = st.vals[:0]
	if cap(st.buf) > maxPooledBuf || cap(st.vals) > 256 {
		return // let the GC have oversized buffers
	}
	statePool.Put(st)
}

// macPools holds the keyed HMAC states of each algorithm.
var macPools = [numAlgorithms]*hmacpool.Pool{
	HMACSHA1:   hmacpool.New(HMACSHA1.newHash),
	HMACSHA256: hmacpool.New(HMACSHA256.newHash),
	HMACSHA384: hmacpool.New(HMACSHA384.newHash),
	HMACSHA512: hmacpool.New(HMACSHA512.newHash),
}

// hmacSum computes HMAC-alg(key, msg) (crypto/hmac, keyed states pooled per
// secret); the result aliases st.mac.
func (st *state) hmacSum(a Algorithm, key, msg []byte) []byte {
	return macPools[a].Sum(st.mac[:], key, msg)
}

// buildSigningString writes the signing string of req for the (lower-case,
// checked) names into st.buf. prefixedLine selects the "request-line: "
// reading of the request-line pseudo-header.
func (st *state) buildSigningString(req *Request, names []string, prefixedLine bool) error {
	b := st.buf[:0]
	target := req.Target
	if target == "" {
		target = "/"
	}
	for i, name := range names {
		if i > 0 {
			b = append(b, '\n')
		}
		switch name {
		case RequestLine:
			if prefixedLine {
				b = append(b, RequestLine+": "...)
			}
			b = append(b, req.Method...)
			b = append(b, ' ')
			b = append(b, target...)
			b = append(b, ' ')
			b = append(b, protoString(req.Proto)...)
			continue
		case RequestTarget:
			b = append(b, RequestTarget+": "...)
			for j := 0; j < len(req.Method); j++ {
				c := req.Method[j]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				b = append(b, c)
			}
			b = append(b, ' ')
			b = append(b, target...)
			continue
		}
		st.vals = appendValues(st.vals[:0], req.Header, name)
		if len(st.vals) == 0 && name == headerHost {
			if req.Host != "" {
				st.vals = append(st.vals, req.Host)
			} else {
				st.vals = appendValues(st.vals, req.Header, headerAuthority)
			}
		}
		if len(st.vals) == 0 {
			st.buf = b
			return MissingHeaderError(name)
		}
		b = append(b, name...)
		b = append(b, ": "...)
		for j, v := range st.vals {
			if j > 0 {
				b = append(b, ", "...)
			}
			b = append(b, ows.Trim(v)...)
		}
	}
	st.buf = b
	return nil
}

// protoString returns the HTTP version as written in the request line.
func protoString(p string) string {
	switch p {
	case "", "HTTP/1.1":
		return "HTTP/1.1"
	case "HTTP/2":
		return "HTTP/2.0"
	case "HTTP/3":
		return "HTTP/3.0"
	}
	return p
}
