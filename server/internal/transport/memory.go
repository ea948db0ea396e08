package transport

import (
	"runtime/debug"
	"time"
)

// Returning memory after a burst. A burst of connections (a crowd reconnecting, or an attack
// such as connections holding unfinished frames) leaves memory behind once it is over: its
// goroutines' stacks, its handshakes' buffers, the garbage of its messages. The Go runtime gives
// such memory back to the system only after a collection, and an idle server allocates too little
// to start one (the runtime forces one every two minutes). The keepalive scanner, which passes
// over the connections every tenth of the pong wait anyway, notices the end of a burst and then
// collects and returns free memory at once (debug.FreeOSMemory): when the open connections have
// fallen to half their peak since the last return, by at least burstConns, or when the messages
// being received held at least burstPartialBytes and now hold nothing. It does so at most once per
// releaseEvery, so that its cost (a full collection) stays negligible.
const (
	burstConns        = 500
	burstPartialBytes = 16 << 20
	releaseEvery      = 10 * time.Second
)

// burstRelease is the keepalive scanner's record of the peaks since memory was last returned.
// Only the scanner's goroutine uses it.
type burstRelease struct {
	peakConns   int
	peakPartial int64
	last        time.Time
	free        func() // debug.FreeOSMemory when nil (tests count the calls)
}

// observe records the open connections and the bytes of messages being received at now, and
// returns memory to the system if a burst has just ended. It reports whether it did.
func (b *burstRelease) observe(conns int, partial int64, now time.Time) bool {
	b.peakConns = max(b.peakConns, conns)
	b.peakPartial = max(b.peakPartial, partial)
	connsGone := b.peakConns-conns >= burstConns && conns <= b.peakConns/2
	partialGone := b.peakPartial >= burstPartialBytes && partial == 0
	if !connsGone && !partialGone || now.Sub(b.last) < releaseEvery {
		return false
	}
	if b.free != nil {
		b.free()
	} else {
		debug.FreeOSMemory()
	}
	b.peakConns, b.peakPartial, b.last = conns, partial, now
	return true
}

// afterBurst is the keepalive scanner's check for the end of a burst (burstRelease.observe).
func (h *Hub) afterBurst(b *burstRelease, now time.Time) {
	h.mu.Lock()
	n := len(h.conns)
	h.mu.Unlock()
	if b.observe(n, h.cfg.Partial.Used(), now) {
		h.log.Debug("a burst ended: memory returned to the system", "connections", n)
	}
}
