package server

import (
	"testing"
	"time"
)

// Redials back off: the window doubles from routeDialMin to routeDialMax
// and stays there, and each wait is drawn at random within it, so the
// waits of servers redialling together differ.
func TestRedialWaitBacksOffWithJitter(t *testing.T) {
	delay := routeDialMin
	var windows []time.Duration
	for i := 0; i < 10; i++ {
		wait, next := redialWait(delay)
		if wait < routeDialMin/2 || wait >= routeDialMin/2+delay {
			t.Fatalf("wait %v outside [%v, %v)", wait, routeDialMin/2, routeDialMin/2+delay)
		}
		windows = append(windows, delay)
		delay = next
	}
	if windows[1] != 2*routeDialMin || windows[9] != routeDialMax {
		t.Fatalf("windows %v: want doubling from %v up to %v", windows, routeDialMin, routeDialMax)
	}
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		wait, _ := redialWait(routeDialMax)
		seen[wait] = true
	}
	if len(seen) < 10 {
		t.Fatalf("50 waits took only %d values: no jitter", len(seen))
	}
}
