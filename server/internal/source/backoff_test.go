package source

import (
	"testing"
	"time"
)

// Backoff grows 1s, 2s, 4s … and stays within ±25% of a 30s cap.
func TestBackoffIsCappedExponentialWithJitter(t *testing.T) {
	for _, tc := range []struct {
		failures int
		base     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {5, 16 * time.Second}, {6, 30 * time.Second}, {50, 30 * time.Second}} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := backoff(tc.failures)
			if d < tc.base*3/4 || d > tc.base*5/4 {
				t.Fatalf("backoff(%d) = %v, want %v ±25%%", tc.failures, d, tc.base)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("backoff(%d) has no jitter: %v", tc.failures, seen)
		}
	}
}
