package server

import (
	"testing"
	"time"
)

// TestLingerState: a document's actor writes at once unless the document received at least
// lingerRate messages a second over its last window, and then holds frames at most lingerMax
// after its last write; a document that goes quiet writes at once again.
func TestLingerState(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	perWindow := lingerRate * int(lingerWindow/time.Millisecond) / 1000 // messages for busy
	// feed counts one message every gap from t0 until one falls past the first window, which
	// ends it (and so decides busy), and returns that message's time.
	feed := func(l *lingerState, gap time.Duration) time.Time {
		now := t0
		for now.Sub(t0) <= lingerWindow+gap {
			l.count(now, 1)
			now = now.Add(gap)
		}
		return now.Add(-gap)
	}
	busyGap := lingerWindow / time.Duration(perWindow+5)
	quietGap := lingerWindow / time.Duration(perWindow-5)
	tests := []struct {
		name      string
		gap       time.Duration // between messages
		sinceLast time.Duration // from the last write to the batch's end
		after     time.Duration // from the last message to the batch's end
		want      time.Duration
	}{
		{"quiet document: at once", quietGap, time.Millisecond, 0, 0},
		{"busy, last write just now: hold for lingerMax", busyGap, 0, 0, lingerMax},
		{"busy, last write 5 ms ago: hold the rest", busyGap, 5 * time.Millisecond, 0, lingerMax - 5*time.Millisecond},
		{"busy, last write long ago: at once", busyGap, time.Second, 0, 0},
		{"busy, then quiet for two windows: at once", busyGap, 0, 2 * lingerWindow, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l lingerState
			last := feed(&l, tt.gap)
			now := last.Add(tt.after)
			l.flushed(now.Add(-tt.sinceLast))
			if got := l.wait(now); got != tt.want {
				t.Fatalf("wait = %v; want %v", got, tt.want)
			}
			if got := l.wait(now); got > lingerMax {
				t.Fatalf("wait %v exceeds lingerMax", got)
			}
		})
	}
	t.Run("quiet again after a gap", func(t *testing.T) {
		var l lingerState
		last := feed(&l, busyGap)
		l.flushed(last)
		if l.wait(last) == 0 {
			t.Fatal("a busy document does not linger")
		}
		later := last.Add(3 * lingerWindow)
		l.count(later, 1) // one message after a long silence
		if got := l.wait(later); got != 0 {
			t.Fatalf("wait after silence = %v; want 0", got)
		}
	})
}
