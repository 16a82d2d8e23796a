package e2e

// Tests that need no Envoy: the quickstart files (loopback and Docker
// Compose) are valid and agree with each other, the committed bootstraps are
// what `apigw bootstrap` generates, and the suite's own configuration and
// harness work.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/apigwio/apigw/examples/echo/echoserver"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/envoybin"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/xds"
)

var update = flag.Bool("update", false, "rewrite the generated quickstart bootstraps")

// repo is the repository root, relative to this package.
var repo = filepath.Join("..", "..")

func quickstartPath(name string) string { return filepath.Join(repo, "examples", "quickstart", name) }

// loadAndTranslate loads a configuration file and translates it into Envoy
// resources that pass validation.
func loadAndTranslate(t *testing.T, path string) *model.Snapshot {
	t.Helper()
	snap, err := config.LoadFile(path, config.Options{})
	if err != nil {
		t.Fatalf("%s refused: %v", path, err)
	}
	res, err := xds.Translate(snap, xds.Options{})
	if err != nil {
		t.Fatalf("%s not translated: %v", path, err)
	}
	if err := res.Validate(); err != nil {
		t.Fatalf("%s: invalid Envoy resources: %v", path, err)
	}
	return snap
}

func envVar(t *testing.T, snap *model.Snapshot, env, name string) string {
	t.Helper()
	for _, e := range snap.Environments {
		if e.Name == env {
			return e.Variables[name]
		}
	}
	t.Fatalf("no environment %s", env)
	return ""
}

// TestQuickstartConfigAndScript: the loopback quickstart configuration is
// valid, and scripts/quickstart.sh starts the backends and expects apigw and
// Envoy where that configuration says.
func TestQuickstartConfigAndScript(t *testing.T) {
	snap := loadAndTranslate(t, quickstartPath("gateway.yaml"))
	script, err := os.ReadFile(filepath.Join(repo, "scripts", "quickstart.sh"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"GRPC":     snap.Server.GRPCAddress,
		"ADMIN":    snap.Server.AdminAddress,
		"RELEASE":  envVar(t, snap, "RELEASE", "backend"),
		"BETA":     envVar(t, snap, "BETA", "backend"),
		"LISTENER": fmt.Sprintf("%s:%d", snap.Listener.Address, snap.Listener.Port),
	}
	for name, v := range want {
		re := regexp.MustCompile(`(?m)^` + name + `=(\S+)$`)
		m := re.FindSubmatch(script)
		if m == nil || string(m[1]) != v {
			t.Errorf("scripts/quickstart.sh: %s=%s, want %s (examples/quickstart/gateway.yaml)", name, m, v)
		}
	}
	if snap.Server.AdvertiseAddress != snap.Server.GRPCAddress {
		t.Errorf("advertise address %s: the script points Envoy at %s", snap.Server.AdvertiseAddress, snap.Server.GRPCAddress)
	}
	// Without an Envoy, it installs the pinned one (unless ENVOY_INSTALL=0).
	if !regexp.MustCompile(`(?m)^\s*ENVOY_BIN=\$\(bash scripts/install-envoy\.sh\)`).Match(script) {
		t.Error("scripts/quickstart.sh does not install Envoy with scripts/install-envoy.sh when none is found")
	}
	// The README's set-up starts with the whole stack, then the tests.
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile("(?s)## Set-up.*?```sh\n(\\S+ \\S+)[^\n]*\n(\\S+ \\S+)").FindSubmatch(readme); m == nil ||
		string(m[1]) != "make quickstart" || string(m[2]) != "make test" {
		t.Errorf("README.md: the set-up commands start with %q, want make quickstart, then make test", m)
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		if out, err := exec.Command(bash, "-n", filepath.Join(repo, "scripts", "quickstart.sh")).CombinedOutput(); err != nil {
			t.Errorf("bash -n scripts/quickstart.sh: %v\n%s", err, out)
		}
	}
}

// TestQuickstartBootstraps: the committed bootstraps are what
// `apigw bootstrap` generates (go test ./test/e2e -run Bootstraps -update
// rewrites them).
func TestQuickstartBootstraps(t *testing.T) {
	for file, opts := range map[string]xds.BootstrapOptions{
		"envoy.yaml":         {XDSAddress: "127.0.0.1:18000"},
		"compose-envoy.yaml": {XDSAddress: "apigw:18000"},
	} {
		want, err := xds.Bootstrap(opts)
		if err != nil {
			t.Fatal(err)
		}
		path := quickstartPath(file)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go test ./test/e2e -run Bootstraps -update (or apigw bootstrap --xds-address %s)", path, opts.XDSAddress)
		}
	}
}

// composeFile is the part of compose.yaml the tests look at.
type composeFile struct {
	Services map[string]struct {
		Image string `json:"image"`
		Build *struct {
			Context    string `json:"context"`
			Dockerfile string `json:"dockerfile"`
			Target     string `json:"target"`
		} `json:"build"`
		Command   []string `json:"command"`
		Volumes   []string `json:"volumes"`
		Ports     []string `json:"ports"`
		DependsOn []string `json:"depends_on"`
	} `json:"services"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestComposeQuickstart: compose-gateway.yaml is valid, has the quickstart's
// APIs and credentials, and its addresses are those of compose.yaml's
// services; compose.yaml mounts what exists.
func TestComposeQuickstart(t *testing.T) {
	snap := loadAndTranslate(t, quickstartPath("compose-gateway.yaml"))

	// Everything but the addresses is the loopback quickstart's.
	var loop, comp map[string]any
	readYAML(t, quickstartPath("gateway.yaml"), &loop)
	readYAML(t, quickstartPath("compose-gateway.yaml"), &comp)
	for _, m := range []map[string]any{loop, comp} {
		delete(m, "server")
		delete(m, "listener")
		envs, _ := m["environments"].([]any)
		for _, e := range envs {
			delete(e.(map[string]any), "variables")
		}
	}
	if !reflect.DeepEqual(loop, comp) {
		t.Errorf("compose-gateway.yaml differs from gateway.yaml beyond server, listener and environment variables:\n%v\n%v", comp, loop)
	}

	var cf composeFile
	readYAML(t, quickstartPath("compose.yaml"), &cf)
	svc := func(name string) bool { _, ok := cf.Services[name]; return ok }
	for _, name := range []string{"apigw", "echo-release", "echo-beta", "envoy"} {
		if !svc(name) {
			t.Fatalf("compose.yaml has no service %q", name)
		}
	}

	// Envoy reaches apigw, and apigw's routes reach the echo services, by
	// service name, on the ports they listen on.
	if host, port, _ := net.SplitHostPort(snap.Server.AdvertiseAddress); !svc(host) || !strings.HasSuffix(snap.Server.GRPCAddress, ":"+port) {
		t.Errorf("server.advertise_address %s: want <apigw service>:<port of %s>", snap.Server.AdvertiseAddress, snap.Server.GRPCAddress)
	}
	for env, service := range map[string]string{"RELEASE": "echo-release", "BETA": "echo-beta"} {
		backend := envVar(t, snap, env, "backend")
		host, port, err := net.SplitHostPort(backend)
		if err != nil || host != service {
			t.Errorf("%s backend %s: want %s:<port>", env, backend, service)
			continue
		}
		if cmd := cf.Services[service].Command; !slices.Contains(cmd, "0.0.0.0:"+port) {
			t.Errorf("service %s command %v: does not listen on 0.0.0.0:%s (the %s backend)", service, cmd, port, env)
		}
	}
	if snap.Listener.Address != "0.0.0.0" {
		t.Errorf("listener address %s: Envoy in a container must bind 0.0.0.0", snap.Listener.Address)
	}
	if p := fmt.Sprintf("127.0.0.1:%d:%d", snap.Listener.Port, snap.Listener.Port); !slices.Contains(cf.Services["envoy"].Ports, p) {
		t.Errorf("envoy ports %v: want %s", cf.Services["envoy"].Ports, p)
	}

	// apigw reads compose-gateway.yaml through its mount.
	apigw := cf.Services["apigw"]
	i := slices.Index(apigw.Command, "--config")
	if i < 0 || i+1 >= len(apigw.Command) {
		t.Fatalf("apigw command %v has no --config", apigw.Command)
	}
	checkMounted(t, apigw.Volumes, apigw.Command[i+1], quickstartPath("compose-gateway.yaml"))
	checkMounted(t, cf.Services["envoy"].Volumes, "/etc/envoy/envoy.yaml", quickstartPath("compose-envoy.yaml"))

	for name, s := range cf.Services {
		if s.Build == nil {
			if s.Image == "" {
				t.Errorf("service %s has neither build nor image", name)
			}
			continue
		}
		ctx := filepath.Join(quickstartPath(""), s.Build.Context)
		if _, err := os.Stat(filepath.Join(ctx, "go.mod")); err != nil {
			t.Errorf("service %s: build context %s is not the repository root", name, s.Build.Context)
		}
		df, err := os.ReadFile(filepath.Join(ctx, s.Build.Dockerfile))
		if err != nil {
			t.Errorf("service %s: %v", name, err)
			continue
		}
		if !regexp.MustCompile(`(?m)^FROM .* AS ` + regexp.QuoteMeta(s.Build.Target) + `$`).Match(df) {
			t.Errorf("service %s: the Dockerfile has no stage %q", name, s.Build.Target)
		}
	}
}

// checkMounted checks that the container path target is the host file
// hostFile through one of the volumes (a file or directory bind mount
// relative to the compose file).
func checkMounted(t *testing.T, volumes []string, target, hostFile string) {
	t.Helper()
	want, err := filepath.Abs(hostFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			continue
		}
		src, dst := filepath.Join(quickstartPath(""), parts[0]), parts[1]
		var got string
		switch {
		case target == dst:
			got = src
		case strings.HasPrefix(target, strings.TrimSuffix(dst, "/")+"/"):
			got = filepath.Join(src, strings.TrimPrefix(target, strings.TrimSuffix(dst, "/")+"/"))
		default:
			continue
		}
		if abs, _ := filepath.Abs(got); abs == want {
			return
		}
		t.Errorf("%s is mounted from %s, want %s", target, got, hostFile)
		return
	}
	t.Errorf("%s is not mounted by any of %v", target, volumes)
}

// TestSuiteConfiguration: the configuration the end-to-end suite writes is
// valid, before and after its change.
func TestSuiteConfiguration(t *testing.T) {
	p := params{GRPCPort: 1, AdminPort: 2, ListenerPort: 3, DeadPort: 4, Release: "127.0.0.1:5", Beta: "127.0.0.1:6",
		Secure: "127.0.0.1:7", CAFile: "/tmp/ca.pem", AppKey: appKey, AppSecret: appSecret, AppName: appName,
		ChanA: "127.0.0.1:8", ChanB: "127.0.0.1:9", WS: "127.0.0.1:10"}
	for _, added := range []bool{false, true} {
		p.Added = added
		path := filepath.Join(t.TempDir(), "gateway.yaml")
		writeFileAtomic(t, path, renderConfig(t, p))
		snap := loadAndTranslate(t, path)
		if _, ok := snap.APIs["e2e/added"]; ok != added {
			t.Errorf("Added=%v: API e2e/added present: %v", added, ok)
		}
	}
}

// TestHarnessWithoutEnvoy starts what the suite starts except Envoy, and
// checks that apigw serves the configuration and reloads its change.
func TestHarnessWithoutEnvoy(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	g := startGateway(t)
	client := &http.Client{Timeout: requestTimeout}
	resp, err := client.Get("http://" + g.srv.AdminAddr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz = %d", resp.StatusCode)
	}
	v1 := g.srv.Reloader().Current().Version
	if st := g.xds.Status(); st.Version != v1 {
		t.Fatalf("xDS serves %q, want %q", st.Version, v1)
	}
	t.Logf("rate-limit filter in the generated listener: %v", g.rateLimited)

	p := g.params
	p.Added = true
	writeFileAtomic(t, g.configPath, renderConfig(t, p))
	g.eventually(t, reloadTimeout, "the configuration change is published to xDS", func() (bool, string) {
		cur := g.srv.Reloader().Current()
		_, added := cur.APIs["e2e/added"]
		return added && g.xds.Status().Version == cur.Version && cur.Version != v1, g.xds.Status().Version
	})

	// The suite's TLS premises, checked with Go's verifier: the CA file
	// verifies the https backend by IP, and the name "localhost" is not in
	// its certificate.
	pemCA, err := os.ReadFile(g.params.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemCA) {
		t.Fatal("the CA file holds no certificate")
	}
	tlsClient := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	if resp, err := tlsClient.Get("https://" + g.params.Secure + "/secure"); err != nil {
		t.Errorf("https backend not verified by the CA file: %v", err)
	} else {
		resp.Body.Close()
	}
	if resp, err := tlsClient.Get("https://localhost:" + g.params.SecurePort() + "/wrong-name"); err == nil {
		resp.Body.Close()
		t.Error("the https backend's certificate names localhost; the wrong-name test needs a name it does not have")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+g.params.Release+"/status/418", nil)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusTeapot {
		t.Errorf("echo backend: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// quickstartPorts are the fixed loopback ports scripts/quickstart.sh uses:
// Envoy's listener and admin, apigw's gRPC and admin, the two echo
// backends.
var quickstartPorts = []int{10080, 9901, 18000, 18001, 18080, 18081}

// lockedBuffer is a bytes.Buffer safe for a writer and readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gitState is what must not change in the working tree: the status of
// tracked files and their diff.
func gitState(t *testing.T) string {
	t.Helper()
	var out []string
	for _, args := range [][]string{{"status", "--porcelain", "--untracked-files=no"}, {"diff", "HEAD"}} {
		b, err := exec.Command("git", append([]string{"-C", repo}, args...)...).Output()
		if err != nil {
			t.Skipf("git %v: %v (not a Git checkout?)", args, err)
		}
		out = append(out, string(b))
	}
	return strings.Join(out, "\n")
}

// TestQuickstartRun runs scripts/quickstart.sh (`make quickstart`) with a
// real Envoy, follows the README's "Quickstart" steps verbatim, then stops
// it with Ctrl-C (SIGINT to its process group, as a terminal sends): it
// exits 0, stops everything it started and changes no tracked file.
func TestQuickstartRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	envoyBin := envoybin.Require(t)
	for _, port := range quickstartPorts {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			if os.Getenv("APIGW_REQUIRE_ENVOY") != "" {
				t.Fatalf("the quickstart's port 127.0.0.1:%d is in use (%v): stop what listens there (an earlier quickstart?)", port, err)
			}
			t.Skipf("the quickstart's port 127.0.0.1:%d is in use (%v); skipped (APIGW_REQUIRE_ENVOY=1 makes this a failure)", port, err)
		}
		l.Close()
	}
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	exportLine := regexp.MustCompile(`(?m)^\s*(export APIGW_KEY=\S+ APIGW_SECRET=\S+)\s*$`).FindSubmatch(readme)
	if exportLine == nil {
		t.Fatal("README.md: no `export APIGW_KEY=... APIGW_SECRET=...` line")
	}
	const signCmd = "bin/apigw sign --url http://127.0.0.1:10080/hello -o curl"
	for _, want := range []string{"make quickstart", signCmd, "bin/apigw sign --url http://127.0.0.1:10080/hello --explain", "-o curl | sh", "-H 'X-Stage: BETA'", "x-apig-app-id: demo-app", `"error_code":"APIG.0303"`} {
		if !bytes.Contains(readme, []byte(want)) {
			t.Fatalf("README.md does not say %q any more: update this test with it", want)
		}
	}
	before := gitState(t)

	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the quickstart builds with go, which is not on PATH: %v", err)
	}
	var out lockedBuffer
	// `make quickstart` runs the script; make itself, on Ctrl-C, reports
	// "Interrupt" and dies of the signal whatever the script does, so the
	// script is run directly.
	if _, err := exec.LookPath("make"); err == nil {
		c := exec.Command("make", "-n", "quickstart")
		c.Dir = repo
		if b, err := c.Output(); err != nil || !bytes.Contains(b, []byte("scripts/quickstart.sh")) {
			t.Errorf("make -n quickstart = %s (%v), want it to run scripts/quickstart.sh", b, err)
		}
	}
	cmd := exec.Command("bash", "scripts/quickstart.sh")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "ENVOY_BIN="+envoyBin, "GO="+goBin, "LOG_DIR="+t.TempDir(), "ENVOY_INSTALL=0")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a process group, like a terminal's job
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if stopped {
			return
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	defer func() {
		if t.Failed() {
			t.Logf("quickstart output:\n%s", out.String())
		}
	}()

	// Up when it prints the last line of its instructions (it builds
	// first: allow for a cold build cache).
	deadline := time.Now().Add(4 * time.Minute)
	for !strings.Contains(out.String(), "Ctrl-C stops everything.") {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("the quickstart exited during start-up: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the quickstart did not come up in 4 minutes")
		}
	}
	if strings.Contains(out.String(), "No Envoy binary found") {
		t.Fatal("the quickstart did not start Envoy")
	}

	// run runs a shell snippet in the repository, as the README's reader.
	run := func(script string) string {
		t.Helper()
		c := exec.Command("sh", "-c", string(exportLine[1])+"\n"+script)
		c.Dir = repo
		b, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("sh -c %q: %v\n%s", script, err, b)
		}
		return string(b)
	}
	echo := func(script string) echoserver.Response {
		t.Helper()
		var r echoserver.Response
		// Envoy may still be receiving its first configuration.
		var got string
		for range 50 {
			got = run(script)
			if json.Unmarshal([]byte(got), &r) == nil && r.Name != "" {
				return r
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("%s printed %s, want the echo backend's JSON", script, got)
		return r
	}

	// 1-2. Sign and call: the backend echoes x-apig-app-id: demo-app.
	if r := echo(signCmd + " | sh"); r.Name != "release" || r.Headers["x-apig-app-id"] != quickstartAppName {
		t.Errorf("%s | sh reached %q with x-apig-app-id %q, want release with %s", signCmd, r.Name, r.Headers["x-apig-app-id"], quickstartAppName)
	}
	// With -H 'X-Stage: BETA': the BETA backend.
	beta := "bin/apigw sign --url http://127.0.0.1:10080/hello -H 'X-Stage: BETA' -o curl | sh"
	if r := echo(beta); r.Name != "beta" || r.Headers["x-apig-stage"] != "BETA" || r.Headers["x-apig-app-id"] != quickstartAppName {
		t.Errorf("%s reached %q in %q as %q, want beta in BETA as %s", beta, r.Name, r.Headers["x-apig-stage"], r.Headers["x-apig-app-id"], quickstartAppName)
	}
	// 3. One character of the signature changed: APIG.0303 with the
	// gateway's canonical request.
	curl := run(signCmd)
	m := regexp.MustCompile(`Signature=[0-9a-f]+`).FindStringIndex(curl)
	if m == nil {
		t.Fatalf("%s printed no signature:\n%s", signCmd, curl)
	}
	last := curl[m[1]-1]
	flipped := "0"
	if last == '0' {
		flipped = "1"
	}
	tampered := run(curl[:m[1]-1] + flipped + curl[m[1]:])
	date := regexp.MustCompile(`X-Sdk-Date: (\d{8}T\d{6}Z)`).FindStringSubmatch(curl)
	if date == nil {
		t.Fatalf("%s printed no X-Sdk-Date:\n%s", signCmd, curl)
	}
	// The gateway's canonical request: that of the signed request (empty
	// body hash), as `sign --explain` prints it.
	canonical := "GET|/hello/||host:127.0.0.1:10080|x-sdk-date:" + date[1] + "||host;x-sdk-date|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	var e apigError
	if json.Unmarshal([]byte(tampered), &e) != nil || e.Code != "APIG.0303" || e.RequestID == "" ||
		!strings.Contains(e.Msg, "verify signature fail, canonicalRequest:"+canonical) {
		t.Errorf("tampered signature answered %s, want APIG.0303 with the canonical request %s as README.md shows", tampered, canonical)
	}
	// --explain (README step 1) prints the canonical request the same way.
	explain := run("bin/apigw sign --url http://127.0.0.1:10080/hello --explain")
	if !regexp.MustCompile(`== Canonical request as the gateway prints it\nGET\|/hello/\|\|host:127\.0\.0\.1:10080\|x-sdk-date:\d{8}T\d{6}Z\|\|host;x-sdk-date\|e3b0c442`).MatchString(explain) {
		t.Errorf("sign --explain printed:\n%s", explain)
	}

	// Ctrl-C: exit 0, everything stopped, no tracked file changed.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("after Ctrl-C the quickstart exited with %v, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the quickstart did not stop within 30 s of Ctrl-C")
	}
	for _, port := range quickstartPorts {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			t.Errorf("after the quickstart stopped, something still listens on 127.0.0.1:%d", port)
		}
	}
	if after := gitState(t); after != before {
		t.Errorf("the quickstart changed tracked files:\n%s", after)
	}
}
