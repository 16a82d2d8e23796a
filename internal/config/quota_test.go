package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/apigwio/apigw/internal/model"
)

func quotaDoc(appQuota, planQuota string) string {
	return `
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: app, backend: {url: "http://10.0.0.1"}}
      - {name: h, path: /h, auth: hmac, backend: {url: "http://10.0.0.1"}}
apps:
  - {name: x, key: app-key-x, secret: {value: app-secret-x}, grants: [{api: g/a}], quota: ` + appQuota + `}
key_pairs:
  - {id: kp, secret: {value: kp-secret-1}}
usage_plans:
  - {name: p, key_pairs: [kp], apis: [g/h], quota: ` + planQuota + `}
`
}

func TestCalendarQuotaResolved(t *testing.T) {
	snap, err := Load("t", []byte(quotaDoc("{requests: 1000, period: month, time_zone: Europe/Berlin, per_api: true}", "{requests: 5, period: week}")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := snap.Apps["app-key-x"].Quota
	if q == nil || q.Requests != 1000 || q.Period != model.PeriodMonth || q.Location.String() != "Europe/Berlin" || !q.PerAPI {
		t.Errorf("app quota %+v", q)
	}
	p := snap.UsagePlans[0]
	if p.Calendar == nil || p.Calendar.Period != model.PeriodWeek || p.Calendar.Location.String() != "UTC" || p.QuotaRequests != 0 {
		t.Errorf("plan: calendar %+v, rate-limiter quota %d (must be 0: counted by Check)", p.Calendar, p.QuotaRequests)
	}
	// A plain day quota stays with the rate limiter.
	snap, err = Load("t", []byte(quotaDoc("{requests: 1, period: day}", "{requests: 5, period: day}")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p := snap.UsagePlans[0]; p.Calendar != nil || p.QuotaRequests != 5 || p.QuotaPeriod != "day" {
		t.Errorf("day plan: %+v", p)
	}
}

func TestCalendarQuotaRefused(t *testing.T) {
	tests := []struct{ app, plan, path, msg string }{
		{"{requests: 1, period: month, time_zone: Mars/Olympus}", "{requests: 1, period: day}", "apps[0].quota.time_zone", "not an IANA time zone"},
		{"{requests: 1, period: month, time_zone: Local}", "{requests: 1, period: day}", "apps[0].quota.time_zone", "not an IANA time zone"},
		{"{requests: 0, period: month}", "{requests: 1, period: day}", "apps[0].quota.requests", "positive number"},
		{"{period: week}", "{requests: 1, period: day}", "apps[0].quota.requests", "positive number"},
		{"{requests: 1, period: hour}", "{requests: 1, period: day}", "apps[0].quota.period", "not day, week or month"},
		{"{requests: 1, period: day}", "{requests: 0, period: month}", "usage_plans[0].quota.requests", "positive number"},
		{"{requests: 1, period: day}", "{requests: 1, period: week, time_zone: Nowhere}", "usage_plans[0].quota.time_zone", "not an IANA time zone"},
		{"{requests: 1, period: day}", "{requests: 1, period: year}", "usage_plans[0].quota.period", "not minute, hour, day, week or month"},
	}
	for _, tt := range tests {
		_, err := Load("t", []byte(quotaDoc(tt.app, tt.plan)), Options{})
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%s / %s: err = %v", tt.app, tt.plan, err)
			continue
		}
		found := false
		for _, p := range ce.Problems {
			found = found || (p.Path == tt.path && strings.Contains(p.Message, tt.msg))
		}
		if !found {
			t.Errorf("%s / %s: problems %v, want %s: ...%s", tt.app, tt.plan, ce.Problems, tt.path, tt.msg)
		}
	}
	// A negative number is not a uint32.
	if _, err := Load("t", []byte(quotaDoc("{requests: -1, period: day}", "{requests: 1, period: day}")), Options{}); err == nil || !strings.Contains(err.Error(), "apps[0].quota.requests") {
		t.Errorf("negative: %v", err)
	}
}
