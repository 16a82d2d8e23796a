package config

// Calendar quotas: apps[].quota, and usage_plans[].quota with a calendar
// period (week, month, or day with a time_zone).

import (
	"time"
	// The zone database is embedded so that a time_zone validates (and
	// counts) the same on every host, images without /usr/share/zoneinfo
	// included.
	_ "time/tzdata"

	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// isCalendarQuota reports whether a usage plan's quota is counted by the
// Check service rather than the rate limiter.
func isCalendarQuota(q *configv1.Quota) bool {
	if q == nil {
		return false
	}
	switch q.GetPeriod() {
	case "week", "month":
		return true
	case "day":
		return q.GetTimeZone() != "" || q.GetPerApi()
	}
	return false
}

// calendarQuota validates a calendar quota at path.
func (b *builder) calendarQuota(path string, q *configv1.Quota) *model.CalendarQuota {
	out := &model.CalendarQuota{Requests: q.GetRequests(), PerAPI: q.GetPerApi(), Location: time.UTC}
	switch q.GetPeriod() {
	case "day":
		out.Period = model.PeriodDay
	case "week":
		out.Period = model.PeriodWeek
	case "month":
		out.Period = model.PeriodMonth
	default:
		b.ps.add(field(path, "period"), "%q is not day, week or month (a calendar quota; minute and hour quotas are usage plans' only, without time_zone or per_api)", q.GetPeriod())
	}
	if out.Requests == 0 {
		b.ps.add(field(path, "requests"), "a quota needs a positive number of requests")
	}
	if tz := q.GetTimeZone(); tz != "" {
		loc, err := time.LoadLocation(tz)
		switch {
		case err != nil || tz == "Local":
			b.ps.add(field(path, "time_zone"), "%q is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)", tz)
		default:
			out.Location = loc
		}
	}
	return out
}
