package model

import "time"

// CalendarPeriod is the period of a calendar quota.
type CalendarPeriod uint8

// Calendar periods: they start at midnight in the quota's time zone, on
// the day, on Monday (ISO weeks) or on the 1st of the month.
const (
	PeriodDay CalendarPeriod = iota + 1
	PeriodWeek
	PeriodMonth
)

func (p CalendarPeriod) String() string {
	switch p {
	case PeriodDay:
		return "day"
	case PeriodWeek:
		return "week"
	case PeriodMonth:
		return "month"
	}
	return "?"
}

// CalendarQuota is a number of requests per calendar period for one
// credential (an app, or a key pair through a usage plan), counted exactly
// by the Check service.
type CalendarQuota struct {
	// Requests allowed per period (> 0).
	Requests uint32
	// Period of the quota.
	Period CalendarPeriod
	// Location is the time zone of the calendar (UTC by default).
	Location *time.Location
	// PerAPI counts each API separately (each gets Requests).
	PerAPI bool
}
