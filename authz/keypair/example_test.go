package keypair_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/authz/signing"
)

func ExampleSign() {
	r, _ := http.NewRequest("GET", "https://service-abc.example.com/release/items?limit=10", nil)
	r.Header.Set("Source", "watermark")
	err := keypair.Sign(r, nil, "AKIDexample", "secret", keypair.HMACSHA256,
		[]string{"x-date", "source", "request-line"}, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	fmt.Println("X-Date:", r.Header.Get("X-Date"))
	fmt.Println("Authorization:", r.Header.Get("Authorization"))
	// Output:
	// X-Date: Tue, 02 Jan 2024 03:04:05 GMT
	// Authorization: hmac id="AKIDexample", algorithm="hmac-sha256", headers="x-date source request-line", signature="1zQmAYfvL+WAI/lzNB10Jb9c1OmnhxWuFdZNXItcjZU="
}

func ExampleVerify() {
	// The request as Envoy's ext_authz presents it.
	req := &keypair.Request{
		Method: "GET",
		Target: "/release/items?limit=10",
		Proto:  "HTTP/1.1",
		Header: signing.MapHeader{
			":authority":    "service-abc.example.com",
			"x-date":        "Tue, 02 Jan 2024 03:04:05 GMT",
			"source":        "watermark",
			"authorization": `hmac id="AKIDexample", algorithm="hmac-sha256", headers="x-date source request-line", signature="1zQmAYfvL+WAI/lzNB10Jb9c1OmnhxWuFdZNXItcjZU="`,
		},
	}
	now := time.Date(2024, 1, 2, 3, 10, 0, 0, time.UTC)
	pol := keypair.Policy{AllowedAlgorithms: []keypair.Algorithm{keypair.HMACSHA256}}

	cred, from, err := keypair.ParseRequestAuthorization(req.Header)
	if err != nil {
		panic(err)
	}
	// Look the secret up by cred.ID (unknown key: keypair.NewError(keypair.KindUnknownKey)), then:
	fmt.Println(from, cred.ID, keypair.Verify(req, cred, []byte("secret"), pol, now))

	req.Target = "/release/items?limit=1000"
	err = keypair.Verify(req, cred, []byte("secret"), pol, now)
	e := err.(*keypair.Error)
	fmt.Println(e.Status, e.Kind, e.Message)

	err = keypair.Verify(req, cred, []byte("secret"), pol, now.Add(time.Hour))
	fmt.Println(keypair.KindOf(err), err)
	// Output:
	// authorization AKIDexample <nil>
	// 403 signature_mismatch HMAC signature does not match
	// date_out_of_range HMAC signature cannot be verified, the x-date header is out of date for HMAC Authentication.
}

func ExampleSigningString() {
	req := &keypair.Request{
		Method: "POST",
		Target: "/v1/items?a=1",
		Proto:  "HTTP/1.1",
		Header: signing.MapHeader{"date": "Tue, 02 Jan 2024 03:04:05 GMT", "content-md5": "md5"},
	}
	s, err := keypair.SigningString(req, []string{"date", "content-md5", "request-line", "@request-target"})
	if err != nil {
		panic(err)
	}
	fmt.Println(s)
	// Output:
	// date: Tue, 02 Jan 2024 03:04:05 GMT
	// content-md5: md5
	// POST /v1/items?a=1 HTTP/1.1
	// @request-target: post /v1/items?a=1
}
