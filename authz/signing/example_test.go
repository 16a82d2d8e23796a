package signing_test

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/apigwio/apigw/authz/signing"
)

func ExampleSignRequest() {
	body := []byte(`{"name":"demo"}`)
	r, _ := http.NewRequest("POST", "https://api.example.com/v1/items?limit=10", nil)
	r.Header.Set("Content-Type", "application/json")
	err := signing.SignRequest(r, body, signing.SignOptions{
		Algorithm: signing.SDKHMACSHA256,
		Access:    "AK",
		Secret:    "SK",
		Time:      time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("X-Sdk-Date:", r.Header.Get("X-Sdk-Date"))
	fmt.Println("Authorization:", r.Header.Get("Authorization"))
	// Output:
	// X-Sdk-Date: 20240102T030405Z
	// Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=content-type;host;x-sdk-date, Signature=80aff7a3a140026d7cd1406a93c89874a330868857c1e5f92a73bcfec58c6a7c
}

func ExampleVerify() {
	// The request as Envoy's ext_authz presents it.
	auth := "SDK-HMAC-SHA256 Access=AK, SignedHeaders=content-type;host;x-sdk-date, Signature=80aff7a3a140026d7cd1406a93c89874a330868857c1e5f92a73bcfec58c6a7c"
	req := &signing.Request{
		Method: "POST",
		Target: "/v1/items?limit=10",
		Host:   "api.example.com",
		Header: signing.MapHeader{
			":authority":    "api.example.com",
			"authorization": auth,
			"content-type":  "application/json",
			"x-sdk-date":    "20240102T030405Z",
		},
		Body:    []byte(`{"name":"demo"}`),
		HasBody: true,
	}
	now := time.Date(2024, 1, 2, 3, 10, 0, 0, time.UTC)

	cred, err := signing.ParseAuthorization(req.Header.Values("authorization")[0])
	if err != nil {
		panic(err)
	}
	// Look the secret up by cred.Access, then:
	fmt.Println("verify:", signing.Verify(req, cred, []byte("SK"), now, signing.DefaultSkew))

	req.Body = []byte(`{"name":"evil"}`)
	err = signing.Verify(req, cred, []byte("SK"), now, signing.DefaultSkew)
	e := err.(*signing.Error)
	fmt.Println("tampered:", e.Reason, "-", e.Detail)
	fmt.Println("verify signature fail, canonicalRequest:" + strings.ReplaceAll(e.CanonicalRequest, "\n", "|"))

	err = signing.Verify(req, cred, []byte("SK"), now.Add(time.Hour), signing.DefaultSkew)
	fmt.Println("late:", signing.ReasonOf(err), "-", err)
	// Output:
	// verify: <nil>
	// tampered: signature_mismatch - signature does not match
	// verify signature fail, canonicalRequest:POST|/v1/items/|limit=10|content-type:application/json|host:api.example.com|x-sdk-date:20240102T030405Z||content-type;host;x-sdk-date|a76107e272b75f5e515ff1d43671b40ede6285973967c0d029cbd2091d6562ef
	// late: expired - signature expired, signature time:20240102T030405Z,server time:20240102T041000Z
}

func ExampleExplain() {
	r, _ := http.NewRequest("GET", "https://api.example.com/v1/测试?b=2&a=x+y", nil)
	e, err := signing.Explain(r, nil, signing.SignOptions{
		Algorithm: signing.V11HMACSHA256,
		Access:    "AK",
		Secret:    "SK",
		Time:      time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		Region:    "region-1",
		Service:   "apig",
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("CanonicalRequest:\n%s\n\nStringToSign:\n%s\n\nAuthorization: %s\n", e.CanonicalRequest, e.StringToSign, e.Authorization)
	// Output:
	// CanonicalRequest:
	// GET
	// /v1/%E6%B5%8B%E8%AF%95/
	// a=x%20y&b=2
	// host:api.example.com
	// x-sdk-date:20240102T030405Z
	//
	// host;x-sdk-date
	// e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
	//
	// StringToSign:
	// V11-HMAC-SHA256
	// 20240102T030405Z
	// 20240102/region-1/apig
	// 99fe59eccd1fc59270642e1872437e5892a9e8d2d5b000506e1e2b282e5a1ff2
	//
	// Authorization: V11-HMAC-SHA256 Credential=AK/20240102/region-1/apig, SignedHeaders=host;x-sdk-date, Signature=59ec26a57475532d04866729274445e656dda4cb547bf92dd3111e330f87ba9b
}
