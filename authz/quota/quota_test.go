package quota

import (
	"context"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/model"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestBounds(t *testing.T) {
	utc := time.UTC
	berlin := mustLoc(t, "Europe/Berlin")
	ny := mustLoc(t, "America/New_York")
	tests := []struct {
		name       string
		at         time.Time
		p          model.CalendarPeriod
		loc        *time.Location
		start, end time.Time
	}{
		{"January 31, last second", time.Date(2027, 1, 31, 23, 59, 59, 0, utc), model.PeriodMonth, utc,
			time.Date(2027, 1, 1, 0, 0, 0, 0, utc), time.Date(2027, 2, 1, 0, 0, 0, 0, utc)},
		{"February 1", time.Date(2027, 2, 1, 0, 0, 0, 0, utc), model.PeriodMonth, utc,
			time.Date(2027, 2, 1, 0, 0, 0, 0, utc), time.Date(2027, 3, 1, 0, 0, 0, 0, utc)},
		{"leap February 29, 2028", time.Date(2028, 2, 29, 12, 0, 0, 0, utc), model.PeriodMonth, utc,
			time.Date(2028, 2, 1, 0, 0, 0, 0, utc), time.Date(2028, 3, 1, 0, 0, 0, 0, utc)},
		{"30-day April", time.Date(2027, 4, 30, 23, 0, 0, 0, utc), model.PeriodMonth, utc,
			time.Date(2027, 4, 1, 0, 0, 0, 0, utc), time.Date(2027, 5, 1, 0, 0, 0, 0, utc)},
		{"December into January", time.Date(2027, 12, 31, 23, 0, 0, 0, utc), model.PeriodMonth, utc,
			time.Date(2027, 12, 1, 0, 0, 0, 0, utc), time.Date(2028, 1, 1, 0, 0, 0, 0, utc)},
		// 2027-01-31 23:30 UTC is already February 1 in Berlin.
		{"month in Berlin", time.Date(2027, 1, 31, 23, 30, 0, 0, utc), model.PeriodMonth, berlin,
			time.Date(2027, 2, 1, 0, 0, 0, 0, berlin), time.Date(2027, 3, 1, 0, 0, 0, 0, berlin)},
		// Berlin springs forward on 2026-03-29 (a 23-hour day).
		{"DST spring day, Berlin", time.Date(2026, 3, 29, 12, 0, 0, 0, berlin), model.PeriodDay, berlin,
			time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), time.Date(2026, 3, 30, 0, 0, 0, 0, berlin)},
		// New York falls back on 2026-11-01 (a 25-hour day).
		{"DST autumn day, New York", time.Date(2026, 11, 1, 23, 30, 0, 0, ny), model.PeriodDay, ny,
			time.Date(2026, 11, 1, 0, 0, 0, 0, ny), time.Date(2026, 11, 2, 0, 0, 0, 0, ny)},
		// March 2026 in Berlin is 31 days minus one hour.
		{"DST month, Berlin", time.Date(2026, 3, 15, 0, 0, 0, 0, berlin), model.PeriodMonth, berlin,
			time.Date(2026, 3, 1, 0, 0, 0, 0, berlin), time.Date(2026, 4, 1, 0, 0, 0, 0, berlin)},
		// ISO weeks start on Monday: Sunday 2026-11-29 is in the week of
		// Monday 2026-11-23.
		{"week, Sunday", time.Date(2026, 11, 29, 23, 59, 0, 0, utc), model.PeriodWeek, utc,
			time.Date(2026, 11, 23, 0, 0, 0, 0, utc), time.Date(2026, 11, 30, 0, 0, 0, 0, utc)},
		{"week, Monday", time.Date(2026, 11, 30, 0, 0, 0, 0, utc), model.PeriodWeek, utc,
			time.Date(2026, 11, 30, 0, 0, 0, 0, utc), time.Date(2026, 12, 7, 0, 0, 0, 0, utc)},
		{"week across the year and DST, New York", time.Date(2027, 1, 2, 10, 0, 0, 0, ny), model.PeriodWeek, ny,
			time.Date(2026, 12, 28, 0, 0, 0, 0, ny), time.Date(2027, 1, 4, 0, 0, 0, 0, ny)},
		{"week over the spring change, Berlin", time.Date(2026, 3, 29, 23, 0, 0, 0, berlin), model.PeriodWeek, berlin,
			time.Date(2026, 3, 23, 0, 0, 0, 0, berlin), time.Date(2026, 3, 30, 0, 0, 0, 0, berlin)},
	}
	for _, tt := range tests {
		start, end := Bounds(tt.at, tt.p, tt.loc)
		if !start.Equal(tt.start) || !end.Equal(tt.end) {
			t.Errorf("%s: Bounds = [%v, %v), want [%v, %v)", tt.name, start, end, tt.start, tt.end)
		}
	}
	// The spring day is 23 hours, the autumn day 25.
	s, e := Bounds(time.Date(2026, 3, 29, 12, 0, 0, 0, berlin), model.PeriodDay, berlin)
	if e.Sub(s) != 23*time.Hour {
		t.Errorf("Berlin 2026-03-29 lasts %v", e.Sub(s))
	}
	s, e = Bounds(time.Date(2026, 11, 1, 12, 0, 0, 0, ny), model.PeriodDay, ny)
	if e.Sub(s) != 25*time.Hour {
		t.Errorf("New York 2026-11-01 lasts %v", e.Sub(s))
	}
}

func TestMemoryCountsAndForgets(t *testing.T) {
	now := time.Date(2027, 1, 31, 23, 0, 0, 0, time.UTC)
	m := NewMemory(func() time.Time { return now })
	ctx := context.Background()
	start, end := Bounds(now, model.PeriodMonth, time.UTC)
	k := Key("app:k", "app", "", start)
	for i := uint64(1); i <= 3; i++ {
		if n, _ := m.Add(ctx, k, end); n != i {
			t.Fatalf("count %d, want %d", n, i)
		}
	}
	now = end.Add(2 * time.Minute)
	start2, end2 := Bounds(now, model.PeriodMonth, time.UTC)
	if n, _ := m.Add(ctx, Key("app:k", "app", "", start2), end2); n != 1 {
		t.Fatalf("new month counts from %d", n)
	}
	if m.Len() != 1 {
		t.Fatalf("past period kept: %d counters", m.Len())
	}
}

func TestKey(t *testing.T) {
	start := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
	if got := Key("hmac:{x}%", "plan:gold", "g/a", start); got != "{hmac:%7Bx%7D%25}:plan:gold:g/a:1801440000" {
		t.Errorf("Key = %q", got)
	}
}

// BenchmarkMemoryAdd: the period bounds, the key and the count, as Check
// does per request.
func BenchmarkMemoryAdd(b *testing.B) {
	loc, _ := time.LoadLocation("Europe/Berlin")
	m := NewMemory(nil)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now := time.Now()
		start, end := Bounds(now, model.PeriodMonth, loc)
		m.Add(ctx, Key("app:bench-key", "app", "", start), end)
	}
}
