package benchconfig

import (
	"bytes"
	"testing"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

func TestAPIsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env     string
		want    int
		wantErr bool
	}{
		{"", 10000, false},
		{"100000", 100000, false},
		{"0", 0, true},
		{"-5", 0, true},
		{"many", 0, true},
	} {
		t.Setenv("APIGW_BENCH_APIS", tc.env)
		got, err := APIsFromEnv(10000)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("APIGW_BENCH_APIS=%q: %d, %v; want %d, error %v", tc.env, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestChangePair: the two files are Write's with Changes 0 and 1.
func TestChangePair(t *testing.T) {
	o := Options{APIs: 40, Groups: 2, Apps: 3, IAMUsers: 2, Changes: 7}
	files, err := ChangePair(o)
	if err != nil {
		t.Fatal(err)
	}
	for k, f := range files {
		o.Changes = k
		var want bytes.Buffer
		if err := Write(&want, o); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f, want.Bytes()) {
			t.Errorf("file %d is not Write's with Changes %d", k, k)
		}
	}
	if bytes.Equal(files[0], files[1]) {
		t.Error("the two files are the same")
	}
}

// TestChangeLoader: loads alternate between the two files of the pair,
// APIGW_BENCH_APIS APIs each, differing by one API.
func TestChangeLoader(t *testing.T) {
	t.Setenv("APIGW_BENCH_APIS", "400")
	load, err := ChangeLoader(10000)
	if err != nil {
		t.Fatal(err)
	}
	var snaps [3]*model.Snapshot
	for i := range snaps {
		if snaps[i], err = load(i); err != nil {
			t.Fatal(err)
		}
		if n := snaps[i].APICount(); n != 400 {
			t.Errorf("load(%d): %d APIs, want 400", i, n)
		}
	}
	if snaps[0].Version == snaps[1].Version || snaps[2].Version != snaps[0].Version {
		t.Errorf("versions %s, %s, %s: want the first and third equal, the second another", snaps[0].Version, snaps[1].Version, snaps[2].Version)
	}
	t.Setenv("APIGW_BENCH_APIS", "many")
	if _, err := ChangeLoader(10000); err == nil {
		t.Error("APIGW_BENCH_APIS=many: no error")
	}
}

// TestWriteRefusesSmallGroups: groups of fewer than MinAPIsPerGroup APIs
// are refused with an error (they divided by zero before), and the
// smallest accepted size loads.
func TestWriteRefusesSmallGroups(t *testing.T) {
	for _, tt := range []struct {
		apis, groups int
		ok           bool
	}{
		{1, 0, false}, {100, 0, false}, {199, 10, false}, {19, 1, false},
		{200, 10, true}, {20, 1, true},
	} {
		var buf bytes.Buffer
		err := Write(&buf, Options{APIs: tt.apis, Groups: tt.groups, Changes: 1})
		if (err == nil) != tt.ok {
			t.Errorf("Write(%d APIs, %d groups) error %v, want ok %v", tt.apis, tt.groups, err, tt.ok)
			continue
		}
		if !tt.ok {
			if a := ChangedAPI(Options{APIs: tt.apis, Groups: tt.groups}, 1); a != (API{}) {
				t.Errorf("ChangedAPI(%d APIs, %d groups) = %v, want the zero API", tt.apis, tt.groups, a)
			}
			continue
		}
		var p config.Parser
		if _, err := p.Load("gw.yaml", buf.Bytes(), config.Options{}); err != nil {
			t.Errorf("%d APIs, %d groups: %v", tt.apis, tt.groups, err)
		}
	}
}
