package signing

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sort"
	"strings"
	"sync"

	"github.com/apigwio/apigw/internal/hmacpool"
)

// state holds the scratch memory of one canonicalisation / verification. It
// is pooled so that the hot path does not allocate.
type state struct {
	cr    []byte   // canonical request
	sts   []byte   // string to sign
	qbuf  []byte   // decoded query keys and values
	pairs []qpair  // query pairs, offsets into qbuf
	vals  []string // header values of one name

	sha, sm3 hash.Hash

	payload    []byte // hex body hash when not taken from a header
	payloadBuf [2 * sigLen]byte

	sum, mac [sigLen]byte
	want     [sigLen]byte
	derived  [2 * sigLen]byte
}

type qpair struct{ ks, ke, vs, ve int }

var statePool = sync.Pool{New: func() any { return new(state) }}

func getState() *state { return statePool.Get().(*state) }

// maxPooledBuf is the largest scratch buffer kept in the pool.
const maxPooledBuf = 64 << 10

func putState(st *state) {
	clear(st.derived[:])
	clear(st.mac[:])
	clear(st.vals[:cap(st.vals)])
	st.vals = st.vals[:0]
	if cap(st.cr) > maxPooledBuf || cap(st.qbuf) > maxPooledBuf || cap(st.sts) > maxPooledBuf || cap(st.pairs) > 4096 {
		return // let the GC have oversized buffers
	}
	statePool.Put(st)
}

// hasher returns the pooled hash for alg, reset.
func (st *state) hasher(a Algorithm) hash.Hash {
	var h hash.Hash
	if a == SDKHMACSM3 {
		if st.sm3 == nil {
			st.sm3 = a.newHash()
		}
		h = st.sm3
	} else {
		if st.sha == nil {
			st.sha = a.newHash()
		}
		h = st.sha
	}
	h.Reset()
	return h
}

// sumInto finalises h into dst (which must have room for the digest) and
// returns the digest. It always passes a zero-length slice to Sum: the SM3
// implementation used by the official SDK hashes the bytes it is given.
func sumInto(h hash.Hash, dst []byte) []byte {
	return h.Sum(dst[:0])
}

// macPools holds the keyed HMAC states of each algorithm.
var macPools = [...]*hmacpool.Pool{
	SDKHMACSHA256: hmacpool.New(SDKHMACSHA256.newHash),
	SDKHMACSM3:    hmacpool.New(SDKHMACSM3.newHash),
	V11HMACSHA256: hmacpool.New(V11HMACSHA256.newHash),
}

// hmacSum computes HMAC(key, msg) with the hash of alg (crypto/hmac, keyed
// states pooled per secret); the result aliases st.mac.
func (st *state) hmacSum(a Algorithm, key, msg []byte) []byte {
	return macPools[a].Sum(st.mac[:], key, msg)
}

// signingKey returns the HMAC key: the secret for SDK-HMAC-*, and for V11
// ascii(hex(HKDF-SHA256(ikm=secret, salt=access, info=scope, 32))).
func (st *state) signingKey(cred *Credential, secret []byte) ([]byte, error) {
	if cred.Algorithm != V11HMACSHA256 {
		return secret, nil
	}
	k, err := hkdf.Key(sha256.New, secret, []byte(cred.Access), cred.Scope, sigLen)
	if err != nil {
		return nil, err
	}
	hex.Encode(st.derived[:], k)
	clear(k)
	return st.derived[:], nil
}

// setPayloadFromBody hashes the body (or the empty body) into st.payload.
func (st *state) setPayloadFromBody(a Algorithm, body []byte) {
	if len(body) == 0 {
		st.payload = append(st.payloadBuf[:0], a.emptyHash()...)
		return
	}
	h := st.hasher(a)
	h.Write(body)
	sum := sumInto(h, st.sum[:])
	st.payload = hex.AppendEncode(st.payloadBuf[:0], sum)
}

// buildCR appends the canonical request for req and cred to st.cr (reset).
// plusLiteral selects the second reading of "+" in the query. The payload
// hash is the content-hash header when present, else st.payload, which the
// caller must have set (setPayloadFromBody).
func (st *state) buildCR(req *Request, cred *Credential, plusLiteral bool) error {
	b := st.cr[:0]
	b = append(b, req.Method...)
	b = append(b, '\n')

	path, query := req.Target, ""
	hasQuery := false
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query, hasQuery = path[:i], path[i+1:], true
	}
	b = appendCanonicalURI(b, path)
	b = append(b, '\n')
	if hasQuery {
		b = st.appendCanonicalQuery(b, query, plusLiteral)
	}
	b = append(b, '\n')

	var err error
	b, err = st.appendCanonicalHeaders(b, req, cred.SignedHeaders)
	if err != nil {
		st.cr = b
		return err
	}
	b = append(b, '\n')
	b = append(b, cred.SignedHeaders...)
	b = append(b, '\n')
	if v, ok := FirstValue(req.Header, cred.Algorithm.contentHashHeaderLower()); ok {
		b = append(b, v...)
	} else {
		b = append(b, st.payload...)
	}
	st.cr = b
	return nil
}

// unreserved marks the bytes left unescaped: A-Z a-z 0-9 - _ . ~
var unreserved = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['_'], t['.'], t['~'] = true, true, true, true
	return t
}()

const upperHex = "0123456789ABCDEF"

func appendEscapedByte(b []byte, c byte) []byte {
	if unreserved[c] {
		return append(b, c)
	}
	return append(b, '%', upperHex[c>>4], upperHex[c&15])
}

func appendEscaped(b, s []byte) []byte {
	for _, c := range s {
		b = appendEscapedByte(b, c)
	}
	return b
}

// appendCanonicalURI appends the canonical form of the raw path: decoded,
// each "/"-separated segment escaped, "/" appended when missing, a leading
// "/" added when missing. Invalid escapes are kept literally.
func appendCanonicalURI(b []byte, path string) []byte {
	if path == "" || path[0] != '/' {
		b = append(b, '/')
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c == '%' && i+2 < len(path) {
			hi, ok1 := unhex(path[i+1])
			lo, ok2 := unhex(path[i+2])
			if ok1 && ok2 {
				c = hi<<4 | lo
				i += 2
			}
		}
		if c == '/' {
			b = append(b, '/')
		} else {
			b = appendEscapedByte(b, c)
		}
	}
	if b[len(b)-1] != '/' {
		b = append(b, '/')
	}
	return b
}

// appendUnescaped decodes a query component into b. "+" is a space unless
// plusLiteral; invalid escapes are kept literally.
func appendUnescaped(b []byte, s string, plusLiteral bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s):
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				c = hi<<4 | lo
				i += 2
			}
		case c == '+' && !plusLiteral:
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

func (st *state) appendCanonicalQuery(b []byte, query string, plusLiteral bool) []byte {
	st.qbuf = st.qbuf[:0]
	st.pairs = st.pairs[:0]
	for query != "" {
		var piece string
		if i := strings.IndexByte(query, '&'); i >= 0 {
			piece, query = query[:i], query[i+1:]
		} else {
			piece, query = query, ""
		}
		if piece == "" {
			continue
		}
		k, v := piece, ""
		if i := strings.IndexByte(piece, '='); i >= 0 {
			k, v = piece[:i], piece[i+1:]
		}
		var p qpair
		p.ks = len(st.qbuf)
		st.qbuf = appendUnescaped(st.qbuf, k, plusLiteral)
		p.ke = len(st.qbuf)
		p.vs = p.ke
		st.qbuf = appendUnescaped(st.qbuf, v, plusLiteral)
		p.ve = len(st.qbuf)
		st.pairs = append(st.pairs, p)
	}
	if len(st.pairs) > 1 {
		if len(st.pairs) <= 12 {
			for i := 1; i < len(st.pairs); i++ {
				for j := i; j > 0 && st.pairLess(j, j-1); j-- {
					st.pairs[j], st.pairs[j-1] = st.pairs[j-1], st.pairs[j]
				}
			}
		} else {
			sort.Sort((*pairSorter)(st))
		}
	}
	for i, p := range st.pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = appendEscaped(b, st.qbuf[p.ks:p.ke])
		b = append(b, '=')
		b = appendEscaped(b, st.qbuf[p.vs:p.ve])
	}
	return b
}

// pairLess orders query pairs by decoded key, then decoded value, bytewise.
func (st *state) pairLess(i, j int) bool {
	a, c := st.pairs[i], st.pairs[j]
	if r := bytes.Compare(st.qbuf[a.ks:a.ke], st.qbuf[c.ks:c.ke]); r != 0 {
		return r < 0
	}
	return bytes.Compare(st.qbuf[a.vs:a.ve], st.qbuf[c.vs:c.ve]) < 0
}

type pairSorter state

func (p *pairSorter) Len() int           { return len(p.pairs) }
func (p *pairSorter) Less(i, j int) bool { return (*state)(p).pairLess(i, j) }
func (p *pairSorter) Swap(i, j int)      { p.pairs[i], p.pairs[j] = p.pairs[j], p.pairs[i] }

// appendCanonicalHeaders appends one "name:value\n" line per value of every
// name in the ";"-joined list sh.
func (st *state) appendCanonicalHeaders(b []byte, req *Request, sh string) ([]byte, error) {
	if msg := checkSignedHeaders(sh); msg != "" {
		return b, malformed("Authorization format incorrect: " + msg)
	}
	for sh != "" {
		var name string
		if i := strings.IndexByte(sh, ';'); i >= 0 {
			name, sh = sh[:i], sh[i+1:]
		} else {
			name, sh = sh, ""
		}
		vals := appendHeaderValues(st.vals[:0], req.Header, name)
		if len(vals) == 0 && name == "host" {
			if req.Host != "" {
				vals = append(vals, req.Host)
			} else {
				vals = appendHeaderValues(vals, req.Header, ":authority")
			}
		}
		st.vals = vals
		if len(vals) == 0 {
			return b, newError(ReasonMissingSignedHeader, "signed header not found: "+clip(name))
		}
		for i := range vals {
			vals[i] = strings.TrimSpace(vals[i])
		}
		for i := 1; i < len(vals); i++ {
			for j := i; j > 0 && vals[j] < vals[j-1]; j-- {
				vals[j], vals[j-1] = vals[j-1], vals[j]
			}
		}
		for _, v := range vals {
			b = append(b, name...)
			b = append(b, ':')
			b = append(b, v...)
			b = append(b, '\n')
		}
	}
	return b, nil
}

// buildSTS appends the string to sign for the canonical request in st.cr to
// st.sts (reset).
func (st *state) buildSTS(cred *Credential, date string) {
	h := st.hasher(cred.Algorithm)
	h.Write(st.cr)
	sum := sumInto(h, st.sum[:])
	s := append(st.sts[:0], cred.Algorithm.String()...)
	s = append(s, '\n')
	s = append(s, date...)
	s = append(s, '\n')
	if cred.Algorithm == V11HMACSHA256 {
		s = append(s, cred.Scope...)
		s = append(s, '\n')
	}
	st.sts = hex.AppendEncode(s, sum)
}
