// Package benchconfig writes realistic gateway configurations of any size
// for the memory and reload measurements of docs/performance.md
// (test/bench/genconfig, test/bench/reloadbench and the benchmarks).
//
// The mix, per 20 APIs of a group: 14 app-signed (70 %), 3 IAM (15 %), 3
// without authentication (15 %); a quarter prefix routes, a quarter exact
// paths with a {id} template, the rest plain exact paths; CORS on one API
// in five, a backend policy (header condition) on one in ten, a retry on
// one in eight, most APIs in two environments. Several hundred apps are
// each granted a whole group and four named APIs of another group; IAM
// users have one access key each.
//
// Change k (Options.Changes) switches one more app-signed API to auth
// none, so consecutive k differ by exactly one API, and Check's decision
// for an unsigned request to that API goes from 401 to allow (see
// ChangedAPI).
package benchconfig

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

// Options size the configuration. Zero fields take the defaults of the
// reload target (10,000 APIs, 10 groups, 500 apps, 200 IAM users).
type Options struct {
	// APIs is the number of APIs (a multiple of Groups; default 10,000).
	APIs int
	// Groups is the number of API groups (default 10).
	Groups int
	// Apps is the number of apps with grants (default 500).
	Apps int
	// IAMUsers is the number of IAM users, one access key each (default
	// 200).
	IAMUsers int
	// Changes is how many APIs are switched from auth app to auth none
	// (see ChangedAPI; default 0).
	Changes int
	// GRPCAddress, AdminAddress and AdvertiseAddress fill the server
	// section (defaults 127.0.0.1:18300, 127.0.0.1:18301, the gRPC
	// address).
	GRPCAddress, AdminAddress, AdvertiseAddress string
}

func (o Options) withDefaults() Options {
	if o.APIs <= 0 {
		o.APIs = 10000
	}
	if o.Groups <= 0 {
		o.Groups = 10
	}
	if o.Apps <= 0 {
		o.Apps = 500
	}
	if o.IAMUsers <= 0 {
		o.IAMUsers = 200
	}
	if o.GRPCAddress == "" {
		o.GRPCAddress = "127.0.0.1:18300"
	}
	if o.AdminAddress == "" {
		o.AdminAddress = "127.0.0.1:18301"
	}
	if o.AdvertiseAddress == "" {
		o.AdvertiseAddress = o.GRPCAddress
	}
	return o
}

// API describes one generated API, as a Check request must name it.
type API struct {
	// ID is the API id (<group>/<name>), Method and Path what a request
	// to it carries (a path of a templated API is filled in).
	ID, Method, Path string
}

// ChangedAPI is the API that change k (1-based) switches to auth none:
// an app-signed exact POST of group (k-1) mod Groups. o must be options
// Write accepts; for others the zero API is returned.
func ChangedAPI(o Options, k int) API {
	o = o.withDefaults()
	if o.validate() != nil {
		return API{}
	}
	g, i := changed(o, k)
	a := api(i)
	return API{ID: fmt.Sprintf("g%d/a%d", g, i), Method: a.method, Path: a.path}
}

// changed returns the group and index of change k: index 20*m with m =
// (k-1)/Groups is always app-signed, exact and POST.
func changed(o Options, k int) (group, index int) {
	return (k - 1) % o.Groups, 20 * ((k - 1) / o.Groups) % (o.APIs / o.Groups / 20 * 20)
}

type apiShape struct {
	auth, method, path, match string
	template                  bool
}

// api is the shape of the API of index i in its group.
func api(i int) apiShape {
	a := apiShape{auth: "app", method: "POST", match: "exact", path: fmt.Sprintf("/svc%d/items", i)}
	switch r := i % 20; {
	case r >= 17:
		a.auth = "none"
	case r >= 14:
		a.auth = "iam"
	}
	switch i % 4 {
	case 1:
		a.path, a.method, a.template = fmt.Sprintf("/svc%d/items/{id}", i), "GET", true
	case 2:
		a.method = "GET"
	case 3:
		a.path, a.method, a.match = fmt.Sprintf("/svc%d/", i), "ANY", "prefix"
	}
	return a
}

// MinAPIsPerGroup is the fewest APIs a group may have: the mix repeats
// every 20 APIs, and the changes and the apps' named grants pick
// app-signed APIs among the group's first multiple of 20.
const MinAPIsPerGroup = 20

// validate refuses options (after defaults) whose groups are too small
// for the mix.
func (o Options) validate() error {
	if o.APIs/o.Groups < MinAPIsPerGroup {
		return fmt.Errorf("benchconfig: %d APIs in %d groups: want at least %d APIs per group (fewer groups or more APIs)", o.APIs, o.Groups, MinAPIsPerGroup)
	}
	return nil
}

// Write writes the configuration of o in YAML. Groups need at least
// MinAPIsPerGroup APIs each.
func Write(out io.Writer, o Options) error {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	perGroup := o.APIs / o.Groups
	flipped := map[[2]int]bool{}
	for k := 1; k <= o.Changes; k++ {
		g, i := changed(o, k)
		flipped[[2]int{g, i}] = true
	}
	fmt.Fprintf(w, "server: {grpc_address: %q, admin_address: %q, advertise_address: %q}\n", o.GRPCAddress, o.AdminAddress, o.AdvertiseAddress)
	fmt.Fprintln(w, "environments: [{name: BETA}]")
	fmt.Fprintln(w, "groups:")
	for g := 0; g < o.Groups; g++ {
		fmt.Fprintf(w, "  - name: g%d\n    domains: [g%d.example.com, api%d.example.net]\n    apis:\n", g, g, g)
		for i := 0; i < perGroup; i++ {
			a := api(i)
			if flipped[[2]int{g, i}] {
				a.auth = "none"
			}
			envs := "[RELEASE, BETA]"
			if i%10 == 9 {
				envs = "[RELEASE]"
			}
			fmt.Fprintf(w, "      - name: a%d\n        method: %s\n        path: %q\n        match: %s\n        auth: %s\n        environments: %s\n",
				i, a.method, a.path, a.match, a.auth, envs)
			retries := ""
			if i%8 == 5 {
				retries = ", retries: 2"
			}
			fmt.Fprintf(w, "        backend: {url: \"http://10.%d.%d.%d:8080/v1/svc%d\", timeout: %ds%s}\n", g%250, i/250%250, i%250+1, i, 3+i%5, retries)
			if i%5 == 0 {
				fmt.Fprintf(w, "        cors: {allow_origins: [\"https://app%d.example.com\", \"https://console.example.com\"], allow_headers: [content-type, x-sdk-date, authorization], max_age: 10m}\n", i%50)
			}
			if i%10 == 4 {
				fmt.Fprintf(w, "        backend_policies:\n          - name: canary\n            conditions: [{type: header, name: x-canary, values: [\"yes\"]}]\n            backend: {url: \"http://10.%d.%d.%d:8081/v2/svc%d\"}\n", 250-g%250, i/250%250, i%250+1, i)
			}
		}
	}
	fmt.Fprintln(w, "apps:")
	for a := 0; a < o.Apps; a++ {
		g := a % o.Groups
		other := (g + 1) % o.Groups
		fmt.Fprintf(w, "  - name: app%d\n    key: app-key-%06d\n    secret: {value: app-secret-%06d-abcdefgh}\n    grants:\n      - {api: g%d/*}\n", a, a, a, g)
		for j := 0; j < 4; j++ {
			// An app-signed API (index mod 20 below 14) of another group.
			i := (20*(a+j*37) + j) % (perGroup / 20 * 20)
			fmt.Fprintf(w, "      - {api: g%d/a%d}\n", other, i)
		}
	}
	fmt.Fprintln(w, "iam_users:")
	for u := 0; u < o.IAMUsers; u++ {
		fmt.Fprintf(w, "  - {account: acct%d, user: user%d, access_keys: [{id: AK%018d, secret: {value: iam-secret-%06d}}]}\n", u%20, u, u, u)
	}
	return w.Flush()
}

// APIsFromEnv is the number of APIs a benchmark measures: def, or
// APIGW_BENCH_APIS when it is set (e.g. 100000 for the 100,000-API
// targets of docs/performance.md).
func APIsFromEnv(def int) (int, error) {
	v := os.Getenv("APIGW_BENCH_APIS")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("APIGW_BENCH_APIS=%q: want a positive number of APIs", v)
	}
	return n, nil
}

// ChangePair writes the two files a one-API-change benchmark alternates
// between: o with Changes 0 and with Changes 1, which differ by exactly
// one API.
func ChangePair(o Options) ([2][]byte, error) {
	var files [2][]byte
	for k := range files {
		o.Changes = k
		var buf bytes.Buffer
		if err := Write(&buf, o); err != nil {
			return files, err
		}
		files[k] = buf.Bytes()
	}
	return files, nil
}

// ChangeLoader is the loading of a one-API-change benchmark: the pair of
// files ChangePair writes for APIGW_BENCH_APIS APIs (APIsFromEnv(def)),
// and load(i) parsing file i%2 with one config.Parser, so that every load
// after the first reuses the unchanged groups as a reload does.
func ChangeLoader(def int) (load func(i int) (*model.Snapshot, error), err error) {
	apis, err := APIsFromEnv(def)
	if err != nil {
		return nil, err
	}
	files, err := ChangePair(Options{APIs: apis})
	if err != nil {
		return nil, err
	}
	var p config.Parser
	return func(i int) (*model.Snapshot, error) {
		return p.Load("gw.yaml", files[i%2], config.Options{})
	}, nil
}
