// Command genconfig writes a gateway configuration of n APIs for memory and
// reload measurements (docs/performance.md): 10 groups with a domain each,
// APIs in both environments with a mix of authentication (app 40 %, IAM
// 20 %, none 20 %, app with a path template 20 %), one app per 10 APIs
// granted its group, and 100 IAM users.
//
//	go run ./test/bench/genconfig -apis 10000 > /tmp/gw10k.yaml
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
)

func main() {
	n := flag.Int("apis", 10000, "APIs")
	flag.Parse()
	w := bufio.NewWriter(os.Stdout)
	defer func() {
		if err := w.Flush(); err != nil {
			fmt.Fprintln(os.Stderr, "genconfig:", err)
			os.Exit(1)
		}
	}()
	fmt.Fprintln(w, `server: {grpc_address: "127.0.0.1:18300", admin_address: "127.0.0.1:18301"}
environments: [{name: BETA}]
groups:`)
	const groups = 10
	for g := 0; g < groups; g++ {
		fmt.Fprintf(w, "  - name: g%d\n    domains: [g%d.example.com]\n    apis:\n", g, g)
		for i := 0; i < *n/groups; i++ {
			auth, path, method := "app", fmt.Sprintf("/svc%d/items", i), "POST"
			switch i % 5 {
			case 1:
				auth, method = "iam", "GET"
			case 2:
				auth, method = "none", "GET"
			case 3:
				path = fmt.Sprintf("/svc%d/items/{id}", i)
				method = "GET"
			}
			fmt.Fprintf(w, "      - {name: a%d, method: %s, path: %q, auth: %s, environments: [RELEASE, BETA], backend: {url: \"http://10.0.%d.%d:8080\", timeout: 5s}}\n",
				i, method, path, auth, g, i%250+1)
		}
	}
	fmt.Fprintln(w, "apps:")
	for a := 0; a < *n/10; a++ {
		fmt.Fprintf(w, "  - {name: app%d, key: app-key-%06d, secret: {value: app-secret-%06d-abcdefgh}, grants: [{api: g%d/*}]}\n", a, a, a, a%groups)
	}
	fmt.Fprintln(w, "iam_users:")
	for u := 0; u < 100; u++ {
		fmt.Fprintf(w, "  - {account: acct%d, user: user%d, access_keys: [{id: AK%018d, secret: {value: iam-secret-%06d}}]}\n", u, u, u, u)
	}
}
