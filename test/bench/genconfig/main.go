// Command genconfig writes a realistic gateway configuration of n APIs for
// the memory and reload measurements (docs/performance.md): the mix of
// internal/benchconfig (70 % app-signed, 15 % IAM, 15 % none; exact,
// templated and prefix routes; CORS; backend policies; several hundred
// apps with grants; IAM users).
//
//	go run ./test/bench/genconfig -apis 10000 > /tmp/gw10k.yaml
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/apigwio/apigw/internal/benchconfig"
)

func main() {
	var o benchconfig.Options
	flag.IntVar(&o.APIs, "apis", 10000, "APIs")
	flag.IntVar(&o.Groups, "groups", 10, "API groups")
	flag.IntVar(&o.Apps, "apps", 500, "apps, each granted a group and four APIs of another")
	flag.IntVar(&o.IAMUsers, "iam-users", 200, "IAM users")
	flag.IntVar(&o.Changes, "changes", 0, "APIs switched from auth app to auth none (one more per change)")
	flag.Parse()
	if err := benchconfig.Write(os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "genconfig:", err)
		os.Exit(1)
	}
}
