package apigerr

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestJSONBody(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		rid  string
		want string
	}{
		{"plain", New(APINotFound), "r-1",
			`{"error_code":"APIG.0101","error_msg":"The API does not exist or has not been published in the environment.","request_id":"r-1"}`},
		{"detail drops final period", WithDetail(IAMAuthFailed, "decrypt token fail"), "r-2",
			`{"error_code":"APIG.0301","error_msg":"Incorrect IAM authentication information: decrypt token fail","request_id":"r-2"}`},
		{"escapes", WithDetail(AppAuthFailed, "a\"b\\c\n<x>&\x01"), "",
			`{"error_code":"APIG.0303","error_msg":"Incorrect app authentication information: a\"b\\c\n\u003cx\u003e\u0026\u0001","request_id":""}`},
		{"invalid utf8", WithDetail(AppAuthFailed, "\xff\xfeok\u2028"), "\x00",
			`{"error_code":"APIG.0303","error_msg":"Incorrect app authentication information: \ufffd\ufffdok\u2028","request_id":"\u0000"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.err.JSON(tt.rid))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			var v map[string]string
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Errorf("not JSON: %v", err)
			}
		})
	}
}

func TestCatalogueMatchesSpec(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Catalogue {
		key := c.ID + "/" + string(rune(c.Status))
		if seen[key] {
			t.Errorf("duplicate %s %d", c.ID, c.Status)
		}
		seen[key] = true
		if c.Status < 400 || c.Status > 599 || len(c.ID) != 9 || c.Message == "" {
			t.Errorf("malformed entry %+v", c)
		}
	}
	if len(Catalogue) != 28 {
		t.Errorf("catalogue has %d entries, the spec lists 28", len(Catalogue))
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n", "\xff", "\u2028<>&", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendJSONString(nil, s)
		var out string
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("invalid JSON %q for %q: %v", b, s, err)
		}
		if utf8.ValidString(s) && out != s {
			t.Fatalf("round trip %q -> %q", s, out)
		}
	})
}

func TestRenderDialects(t *testing.T) {
	tests := []struct {
		name   string
		err    *Error
		d      Dialect
		status int
		body   string
	}{
		{"apig", New(AppNotAuthorized), APIG, 403, `{"error_code":"APIG.0304","error_msg":"The app is not authorized to access the API.","request_id":"r"}`},
		{"tencent native", WithTencent(AuthFailed, "HMAC signature does not match", 403), Tencent, 403, `{"message":"HMAC signature does not match"}`},
		{"tencent native in apig", WithTencent(AuthFailed, "HMAC signature does not match", 403), APIG, 401,
			`{"error_code":"APIG.0305","error_msg":"Incorrect authentication information: HMAC signature does not match","request_id":"r"}`},
		{"apig code in tencent", New(APINotFound), Tencent, 404, `{"message":"The API does not exist or has not been published in the environment."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.err.Render(tt.d, "r")
			if status != tt.status || string(body) != tt.body {
				t.Errorf("got %d %s\nwant %d %s", status, body, tt.status, tt.body)
			}
		})
	}
}
