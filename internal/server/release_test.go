package server

import (
	"testing"
	"time"
)

func TestReleaseDelayAfter(t *testing.T) {
	for _, tc := range []struct {
		took, want time.Duration
	}{
		{0, releaseDelay},
		{50 * time.Millisecond, releaseDelay},
		{800 * time.Millisecond, 1600 * time.Millisecond},
		{1200 * time.Millisecond, 2400 * time.Millisecond},
		{5 * time.Second, releaseMaxDelay},
	} {
		if got := releaseDelayAfter(tc.took); got != tc.want {
			t.Errorf("releaseDelayAfter(%v) = %v, want %v", tc.took, got, tc.want)
		}
	}
}
