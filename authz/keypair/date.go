package keypair

import (
	"net/http"
	"time"

	"github.com/apigwio/apigw/internal/echo"
)

// parseHTTPDate parses an HTTP-date. The common IMF-fixdate form
// ("Mon, 02 Jan 2006 15:04:05 GMT") is parsed by hand without allocating;
// anything else goes to http.ParseTime (RFC 850 and asctime forms).
func parseHTTPDate(s string) (time.Time, bool) {
	if t, ok := parseIMFFixdate(s); ok {
		return t, true
	}
	t, err := http.ParseTime(s)
	return t, err == nil
}

var weekdays = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseIMFFixdate parses exactly "Mon, 02 Jan 2006 15:04:05 GMT", with the
// same validation as time.Parse with http.TimeFormat (the day name must be a
// day name but need not match the date).
func parseIMFFixdate(s string) (time.Time, bool) {
	const layout = "Mon, 02 Jan 2006 15:04:05 GMT"
	if len(s) != len(layout) || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
		s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25:] != " GMT" {
		return time.Time{}, false
	}
	okDay := false
	for _, w := range weekdays {
		if s[:3] == w {
			okDay = true
			break
		}
	}
	if !okDay {
		return time.Time{}, false
	}
	month := 0
	for i, m := range months {
		if s[8:11] == m {
			month = i + 1
			break
		}
	}
	if month == 0 {
		return time.Time{}, false
	}
	num := func(i, n int) (int, bool) { return echo.Digits(s, i, n) }
	day, ok1 := num(5, 2)
	year, ok2 := num(12, 4)
	hour, ok3 := num(17, 2)
	minute, ok4 := num(20, 2)
	sec, ok5 := num(23, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day { // e.g. 31 Feb
		return time.Time{}, false
	}
	return t, true
}
