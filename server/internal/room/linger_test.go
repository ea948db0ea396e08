package room

import (
	"testing"
	"time"
)

// TestLinger: a document's actor writes at once unless the document received at least
// LingerRate messages a second over its last window, and then holds frames at most LingerMax
// after its last write; a document that goes quiet writes at once again.
func TestLinger(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	perWindow := LingerRate * int(LingerWindow/time.Millisecond) / 1000 // messages for busy
	// feed counts one message every gap from t0 until one falls past the first window, which
	// ends it (and so decides busy), and returns that message's time.
	feed := func(l *Linger, gap time.Duration) time.Time {
		now := t0
		for now.Sub(t0) <= LingerWindow+gap {
			l.Count(now, 1)
			now = now.Add(gap)
		}
		return now.Add(-gap)
	}
	busyGap := LingerWindow / time.Duration(perWindow+5)
	quietGap := LingerWindow / time.Duration(perWindow-5)
	tests := []struct {
		name      string
		gap       time.Duration // between messages
		sinceLast time.Duration // from the last write to the batch's end
		after     time.Duration // from the last message to the batch's end
		want      time.Duration
	}{
		{"quiet document: at once", quietGap, time.Millisecond, 0, 0},
		{"busy, last write just now: hold for LingerMax", busyGap, 0, 0, LingerMax},
		{"busy, last write 5 ms ago: hold the rest", busyGap, 5 * time.Millisecond, 0, LingerMax - 5*time.Millisecond},
		{"busy, last write long ago: at once", busyGap, time.Second, 0, 0},
		{"busy, then quiet for two windows: at once", busyGap, 0, 2 * LingerWindow, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Linger
			last := feed(&l, tt.gap)
			now := last.Add(tt.after)
			l.Flushed(now.Add(-tt.sinceLast))
			if got := l.Wait(now); got != tt.want {
				t.Fatalf("Wait = %v; want %v", got, tt.want)
			}
			if got := l.Wait(now); got > LingerMax {
				t.Fatalf("Wait %v exceeds LingerMax", got)
			}
		})
	}
	t.Run("quiet again after a gap", func(t *testing.T) {
		var l Linger
		last := feed(&l, busyGap)
		l.Flushed(last)
		if l.Wait(last) == 0 {
			t.Fatal("a busy document does not linger")
		}
		later := last.Add(3 * LingerWindow)
		l.Count(later, 1) // one message after a long silence
		if got := l.Wait(later); got != 0 {
			t.Fatalf("Wait after silence = %v; want 0", got)
		}
	})
}
