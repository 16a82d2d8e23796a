package model

import (
	"testing"

	"github.com/apigwio/apigw/internal/apigerr"
)

func TestParseTemplate(t *testing.T) {
	for _, tt := range []struct{ in, err string }{
		{`{"a":"$context.error.code/$context.error.message","r":"$context.requestId."}`, ""},
		{`$context.error.type$context.requestId`, ""},
		{`price $5 and $contextual`, ""},
		{`$context.error.codes`, "unknown variable $context.error.codes"},
		{`$context.apiId.`, "unknown variable $context.apiId "},
		{`$context.`, "unknown variable $context "},
	} {
		_, err := ParseTemplate(tt.in)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.in, err)
		case tt.err != "" && (err == nil || len(err.Error()) < len(tt.err) || err.Error()[:len(tt.err)] != tt.err):
			t.Errorf("%q: error %v, want %q…", tt.in, err, tt.err)
		}
	}
}

func TestResponseSetRender(t *testing.T) {
	body, _ := ParseTemplate(`{"c":"$context.error.code","m":"$context.error.message","t":"$context.error.type","r":"$context.requestId"}`)
	hv, _ := ParseTemplate(`$context.error.code $context.error.message`)
	set := &ResponseSet{Name: "s", Responses: map[apigerr.ResponseType]*Response{
		apigerr.TypeAuthFailure: {Status: 400, Body: body, Headers: []ResponseHeader{{Name: "x-e", Value: hv}}},
		apigerr.TypeDefault5XX:  {Status: 500},
	}}
	e := apigerr.WithDetail(apigerr.AppAuthFailed, "bad \"sig\"\n<x>")
	e.CredentialMissing = true // AUTH_HEADER_MISSING -> AUTH_FAILURE
	out, ok := set.Render(e, `r"1`)
	want := `{"c":"APIG.0303","m":"Incorrect app authentication information: bad \"sig\"\n\u003cx\u003e","t":"AUTH_HEADER_MISSING","r":"r\"1"}`
	if !ok || out.Status != 400 || string(out.Body) != want {
		t.Errorf("render = %v %d %s\nwant %s", ok, out.Status, out.Body, want)
	}
	if len(out.Headers) != 1 || out.Headers[0] != [2]string{"x-e", `APIG.0303 Incorrect app authentication information: bad "sig" <x>`} {
		t.Errorf("headers %q", out.Headers)
	}
	// DEFAULT_5XX: the status only, the built-in body.
	out, ok = set.Render(apigerr.New(apigerr.InternalError), "r")
	if !ok || out.Status != 500 || string(out.Body) != string(apigerr.New(apigerr.InternalError).JSON("r")) {
		t.Errorf("5xx = %v %d %s", ok, out.Status, out.Body)
	}
	// Not customised: the caller renders the built-in answer.
	if _, ok := set.Render(apigerr.New(apigerr.AppNotAuthorized), "r"); ok {
		t.Error("UNAUTHORIZED rendered without DEFAULT_4XX")
	}
	var none *ResponseSet
	if none.Lookup(apigerr.TypeNotFound, 404) != nil {
		t.Error("nil set")
	}
}
