package room

import "time"

// Lingering under load. Each frame the actor writes costs a system call, and on a loopback or a
// virtual machine most of that is the kernel's (the receiver's wake-up included), not the
// server's: at thousands of edits a second the calls, not the edits, fill the CPU. When a
// document receives at least LingerRate messages a second, the actor writes what it holds at most
// once per LingerMax: each connection then gets the frames of several edits in one call. Below
// that rate nothing waits (a typist's keystrokes are further apart than LingerMax), and no frame
// waits more than LingerMax.
const (
	LingerMax    = 16 * time.Millisecond
	LingerRate   = 100 // messages a second
	LingerWindow = 500 * time.Millisecond
)

// Linger decides when a document's actor writes what it holds: at once, unless the document is
// busy and the last write was less than LingerMax ago. The zero value is a quiet document.
type Linger struct {
	lastFlush time.Time // when held frames were last written
	rateStart time.Time // the start of the current rate window
	rateCount int       // messages handled in it
	busy      bool      // the last window, ended less than a window ago, counted LingerRate's worth
}

// Count counts n messages handled at now.
func (l *Linger) Count(now time.Time, n int) {
	if d := now.Sub(l.rateStart); d >= LingerWindow {
		l.busy = d < 2*LingerWindow && l.rateCount >= LingerRate*int(LingerWindow/time.Millisecond)/1000
		l.rateStart, l.rateCount = now, 0
	}
	l.rateCount += n
}

// Wait returns how long the actor holds on to what it holds, from now: 0 to write at once.
func (l *Linger) Wait(now time.Time) time.Duration {
	if !l.busy || now.Sub(l.rateStart) >= 2*LingerWindow {
		return 0
	}
	return max(0, LingerMax-now.Sub(l.lastFlush))
}

// Flushed records a write of held frames at now.
func (l *Linger) Flushed(now time.Time) { l.lastFlush = now }
