package mesh

import (
	"testing"
	"time"
)

func TestNextPing(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	const interval = 10 * time.Second
	for _, tc := range []struct {
		name          string
		took          time.Duration
		failures      int
		earliest, max time.Duration // after t0, the ping's start
	}{
		{"a success: one interval after the start", 2 * time.Millisecond, 0, 9 * time.Second, 11 * time.Second},
		{"a timeout does not stretch the interval", 3 * time.Second, 2, 9 * time.Second, 11 * time.Second},
		{"a first failure is confirmed within a second", 3 * time.Second, 1, 4 * time.Second, 4 * time.Second},
		{"a ping longer than the interval: right away", 12 * time.Second, 0, 12 * time.Second, 12 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 100 {
				got := nextPing(t0, t0.Add(tc.took), interval, tc.failures).Sub(t0)
				if got < tc.earliest || got > tc.max {
					t.Fatalf("next ping %s after the start, want within [%s, %s]", got, tc.earliest, tc.max)
				}
			}
		})
	}
	if got := nextPing(t0, t0.Add(time.Second), 2*time.Second, 1).Sub(t0); got != 1500*time.Millisecond {
		t.Fatalf("at a 2s interval a first failure is confirmed %s after the start, want 1.5s (interval/4 after it)", got)
	}
}
