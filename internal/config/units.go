package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseSize parses a byte size such as "12MB", "32KB", "1GB" or "1024"
// (bytes). Units are binary, as in the platform's documented limits
// (1KB = 1024 bytes, 9536MB is just under 10 GB); KiB/MiB/GiB are synonyms.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') {
		i--
	}
	num, unit := s[:i], strings.ToUpper(strings.TrimSpace(s[i:]))
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (write e.g. 12MB, 32KB or a number of bytes)", s)
	}
	mult := map[string]int64{
		"": 1, "B": 1,
		"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q has an unknown unit %q (use B, KB, MB, GB, KiB, MiB or GiB)", s, unit)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// parseDuration parses a Go duration ("5s", "15m", "1h30m") that must be
// positive.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		if hint := unitHint(strings.TrimSpace(s)); hint != "" {
			return 0, errors.New(hint)
		}
		return 0, fmt.Errorf("%q is not a duration (write e.g. 500ms, 5s, 15m)", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	return d, nil
}

// unitHint explains a duration written as a bare number (YAML "timeout: 5"):
// it has no unit, and the loader does not guess seconds.
func unitHint(s string) string {
	if s == "" || strings.Trim(s, "0123456789.") != "" {
		return ""
	}
	d, err := time.ParseDuration(s + "s")
	if err != nil || d <= 0 {
		return ""
	}
	return fmt.Sprintf("%s has no unit; write %q (or %q)", s, s+"s", strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64)+"ms")
}
