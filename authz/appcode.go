package authz

import (
	"crypto/sha256"
	"crypto/subtle"

	"github.com/apigwio/apigw/internal/apigerr"
)

// HeaderAppCode carries an app code (simple authentication).
const HeaderAppCode = "x-apig-appcode"

// appCodeEntry is one app code, indexed by its SHA-256 so that looking a
// code up takes the same time whatever its content; the code itself is then
// compared in constant time.
type appCodeEntry struct {
	code   []byte
	caller *caller
}

// authenticateAppCode authenticates an X-Apig-AppCode request. Codes are
// accepted only over TLS unless the gateway allows plain HTTP.
func authenticateAppCode(t *tables, r *request, code string) (*caller, *apigerr.Error) {
	if !r.tls && !t.snap.Settings.AppCodeAllowHTTP {
		return nil, apigerr.WithDetail(apigerr.AppAuthFailed, "app code authentication requires HTTPS")
	}
	e := t.appCodes[sha256.Sum256([]byte(code))]
	if e == nil || subtle.ConstantTimeCompare(e.code, []byte(code)) != 1 {
		return nil, apigerr.WithDetail(apigerr.AppAuthFailed, "app code not found")
	}
	r.credHeader = HeaderAppCode
	return e.caller, nil
}
