package follow

import (
	"testing"

	"github.com/apigwio/apigw/internal/release"
)

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"etcd://127.0.0.1:2379/apigw":                        "etcd://127.0.0.1:2379/apigw",
		"etcd://a:2379,b:2379,c:2379/apigw/prod":             "etcd://a:2379,b:2379,c:2379/apigw/prod",
		"etcds://root:s3cret@10.0.0.1:2379/apigw":            "etcds://10.0.0.1:2379/apigw",
		"etcd://10.0.0.1:2379/apigw?password=s3cret#frag":    "etcd://10.0.0.1:2379/apigw",
		"etcd://u:p%zz@10.0.0.1:2379/apigw":                  "etcd://10.0.0.1:2379/apigw",
		"not a url with s3cret":                              "(unparsable store URL)",
		"etcd://root:s3cret@[::1]:2379,[::1]:2380/apigw?x=y": "etcd://[::1]:2379,[::1]:2380/apigw",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDescribe(t *testing.T) {
	cur := &release.Current{Revision: 9, Releases: map[string]*release.Release{"RELEASE": {Number: 2}, "BETA": {Number: 4}}}
	if got := Describe(cur); got != "releases BETA#4, RELEASE#2 (revision 9)" {
		t.Fatal(got)
	}
	if got := Describe(&release.Current{Revision: 1}); got != "no releases (revision 1)" {
		t.Fatal(got)
	}
}
