package authz

// Calendar quotas (apps[].quota; usage_plans[].quota with a week or month
// period, or a day in a time zone): counted here, in Check, after the
// caller is authenticated and authorised — the Check knows the credential,
// and only requests that would otherwise be allowed count. Each quota is
// one store call (Redis: INCR and EXPIREAT pipelined, one round trip) per
// request; the request is refused when the count, this request included,
// exceeds the quota, so replicas sharing Redis let exactly N requests
// through per period. Refused requests are counted too (the counter goes
// past N; they are never let through).
//
// A store error follows settings.throttling.failure_mode: open lets the
// request through uncounted, closed refuses it with APIG.0601.

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/apigwio/apigw/authz/quota"
	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// checkQuota counts the request against the caller's calendar quotas.
func (s *Service) checkQuota(ctx context.Context, t *tables, dep *deployment, c *caller) *apigerr.Error {
	var q *model.CalendarQuota
	var scope string
	switch {
	case c.app != nil && c.app.Quota != nil:
		q, scope = c.app.Quota, "app"
	case c.keyPair != nil && len(dep.plans) > 0:
		if plan := planFor(dep.plans, c.keyPair.ID); plan != nil && plan.Calendar != nil {
			q, scope = plan.Calendar, "plan:"+plan.Name
		}
	}
	if q == nil {
		return nil
	}
	now := s.now()
	start, end := quota.Bounds(now, q.Period, q.Location)
	var api string
	if q.PerAPI {
		api = dep.api.ID
	}
	key := quota.Key(c.lockKey, scope, api, start)
	if _, local := s.quotas.(*quota.Memory); !local {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.quotaTimeout)
		defer cancel()
	}
	n, err := s.quotas.Add(ctx, key, end)
	if err != nil {
		s.quotaErrors.Add(1)
		s.storeError(ctx, err)
		if t.snap.Settings.Throttling.FailClosed {
			return apigerr.New(apigerr.InternalError)
		}
		return nil
	}
	s.usage.record(key, n, now, func() *QuotaCount {
		return &QuotaCount{Credential: c.lockKey, Scope: scope, API: api, Period: q.Period.String(),
			TimeZone: q.Location.String(), Start: start, Reset: end, Limit: q.Requests}
	})
	if n <= uint64(q.Requests) {
		return nil
	}
	reset := strconv.FormatInt(int64((end.Sub(now)+time.Second-1)/time.Second), 10)
	e := apigerr.WithTencent(apigerr.QuotaUsedUp, apigerr.TencentQuotaExceeded, 429)
	e.Detail = "" // the APIG answer is the platform's message alone
	e.Headers = [][2]string{
		{"x-ratelimit-limit", strconv.FormatUint(uint64(q.Requests), 10)},
		{"x-ratelimit-remaining", "0"},
		{"x-ratelimit-reset", reset},
		{"retry-after", reset},
	}
	return e
}

// QuotaCount is one calendar-quota counter as this replica last saw it
// (/debug/quotas).
type QuotaCount struct {
	Credential string    `json:"credential"`
	Scope      string    `json:"scope"`
	API        string    `json:"api,omitempty"`
	Period     string    `json:"period"`
	TimeZone   string    `json:"time_zone"`
	Start      time.Time `json:"start"`
	Reset      time.Time `json:"reset"`
	Limit      uint32    `json:"limit"`
	Used       uint64    `json:"used"`
}

// maxTrackedUsage bounds the counters /debug/quotas shows.
const maxTrackedUsage = 10000

// usageTable keeps, per counter (store key: credential, scope, API and
// period), the highest count this replica saw. Only a counter's first
// request in a period allocates; counters of past periods are dropped
// when the table is full and when it is read.
type usageTable struct {
	mu sync.Mutex
	m  map[string]*QuotaCount
}

func (u *usageTable) record(key string, n uint64, now time.Time, entry func() *QuotaCount) {
	u.mu.Lock()
	defer u.mu.Unlock()
	cur := u.m[key]
	if cur == nil {
		if u.m == nil {
			u.m = map[string]*QuotaCount{}
		}
		if len(u.m) >= maxTrackedUsage {
			u.dropPast(now)
			if len(u.m) >= maxTrackedUsage {
				return
			}
		}
		cur = entry()
		u.m[key] = cur
	}
	if n > cur.Used {
		cur.Used = n
	}
}

// dropPast forgets the counters whose period ended.
func (u *usageTable) dropPast(now time.Time) {
	for k, v := range u.m {
		if !now.Before(v.Reset) {
			delete(u.m, k)
		}
	}
}

// QuotaUsage is the current usage of calendar quotas as this replica last
// counted them (with Redis: exact as of the last request through this
// replica), for /debug/quotas: the counters of the current periods that
// this replica counted.
func (s *Service) QuotaUsage() []QuotaCount {
	s.usage.mu.Lock()
	s.usage.dropPast(s.now())
	out := make([]QuotaCount, 0, len(s.usage.m))
	for _, v := range s.usage.m {
		out = append(out, *v)
	}
	s.usage.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Credential != out[j].Credential {
			return out[i].Credential < out[j].Credential
		}
		if out[i].Scope != out[j].Scope {
			return out[i].Scope < out[j].Scope
		}
		return out[i].API < out[j].API
	})
	return out
}
