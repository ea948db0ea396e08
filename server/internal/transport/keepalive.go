package transport

import (
	"slices"
	"time"

	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// Keepalive. No read waits on an idle socket with a deadline (the poller reads only when bytes
// come), so something else must notice a peer that went away without a word, and ping the ones
// that are there so that their pongs say so. That is one goroutine per Hub, not a timer per
// connection: a timer costs an idle connection more than a hundred bytes for its whole life,
// while a pass over every connection every tenth of the pong wait costs a few tens of
// nanoseconds per connection.
//
// Each pass (keepaliveScan) walks the hub's connection table (Hub.conns) from its end down,
// keepaliveChunk connections at a time under Hub.mu, and visits each outside the lock
// (Conn.keepalive): a connection silent (no frame of any kind, a pong included) for PongWait is
// closed as a slow consumer (Conn.closeSilent); one whose next ping is due gets a ping, queued like any
// frame, and the next one 9/10 of PongWait later. A pass is a tenth of PongWait, so a silent peer
// is dropped between PongWait and 1.1 PongWait after it was last heard, and pings go out at 9/10
// of PongWait give or take half a pass: a peer has about a tenth of the pong wait to answer, as
// with a timer of its own.
//
// Presence. A peer that shows a presence (its last awareness state was not empty: a cursor on
// the others' screens) is held to a shorter wait, PresenceWait (6 s by default): it is pinged
// every half of it and dropped once silent for all of it, so that a peer whose network died
// leaves the others' screens within PresenceWait plus a pass and the awareness interval (about 7 s
// by default), not the 30 s of the pong wait. A pass is then a sixth of the presence wait if that
// is shorter than a tenth of the pong wait (1 s by default): a pass over 100,000 idle
// connections costs a few milliseconds. A peer without presence (a read-only viewer, a script)
// keeps the pong wait.
//
// Walking down, rather than up, is what makes the chunks safe while connections come and go
// between them: a connection that ends moves the table's last one into its place (removeConn),
// and the last one has been visited already in this pass (or joined after it began), so no
// connection is skipped; at worst one is visited twice, which changes nothing.

// keepaliveChunk is how many connections a pass copies out of the table per hold of Hub.mu.
const keepaliveChunk = 256

// keepaliveScanner is the goroutine that runs the passes. It starts with the hub's first
// connection (Add) and stops at Shutdown, once the connections have ended.
type keepaliveScanner struct {
	stop chan struct{} // closed to stop it
	done chan struct{} // closed when it has returned
}

// keepalivePeriod is the time between two passes: a tenth of the pong wait, or a sixth of the
// presence wait if that is shorter.
func (h *Hub) keepalivePeriod() time.Duration { return min(h.cfg.PongWait/10, h.presenceWait()/6) }

// presenceWait is how long a connection with presence may stay silent: PresenceWait, at most
// PongWait.
func (h *Hub) presenceWait() time.Duration { return min(h.cfg.PresenceWait, h.cfg.PongWait) }

// pingPeriod is how often a connection is pinged: 9/10 of the pong wait, so that the pong can
// arrive in time.
func (h *Hub) pingPeriod() time.Duration { return h.cfg.PongWait * 9 / 10 }

// startKeepalive starts the scanner if it does not run yet. h.mu is held.
func (h *Hub) startKeepalive() {
	if h.keepalive != nil {
		return
	}
	k := &keepaliveScanner{stop: make(chan struct{}), done: make(chan struct{})}
	h.keepalive = k
	go h.runKeepalive(k)
}

// stopKeepalive stops the scanner, if it was started, and waits for it. Shutdown calls it, once,
// after setting closing, so that no connection can start it again.
func (h *Hub) stopKeepalive() {
	h.mu.Lock()
	k := h.keepalive
	h.mu.Unlock()
	if k == nil {
		return
	}
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	<-k.done
}

// runKeepalive is the scanner's goroutine: a pass every keepalivePeriod until it is stopped.
func (h *Hub) runKeepalive(k *keepaliveScanner) {
	defer close(k.done)
	t := time.NewTicker(h.keepalivePeriod())
	defer t.Stop()
	var batch []*Conn
	var burst burstRelease // memory.go
	for {
		select {
		case <-k.stop:
			return
		case now := <-t.C:
			batch = h.keepaliveScan(batch, (*Conn).keepalive)
			h.afterBurst(&burst, now)
		}
	}
}

// keepaliveScan makes one pass over the open connections: visit(c, now) for each, outside
// h.mu. batch holds each chunk; it is returned, empty, for the next pass.
func (h *Hub) keepaliveScan(batch []*Conn, visit func(c *Conn, now time.Time)) []*Conn {
	h.mu.Lock()
	i := len(h.conns)
	h.mu.Unlock()
	for i > 0 {
		h.mu.Lock()
		i = min(i, len(h.conns))
		lo := max(0, i-keepaliveChunk)
		batch = append(batch[:0], h.conns[lo:i]...)
		h.mu.Unlock()
		i = lo
		now := time.Now()
		for _, c := range batch {
			visit(c, now)
		}
	}
	clear(batch) // keeps no connection alive until the next pass
	return batch[:0]
}

// keepalive is a pass's visit to c at now: it drops c if its peer has been silent for PongWait
// (PresenceWait if it shows a presence), or queues a ping if one is due (within half a pass).
// Only the scanner calls it, one pass at a time, so c.pingAt needs no lock.
func (c *Conn) keepalive(now time.Time) {
	t := now.UnixNano()
	wait, period := int64(c.hub.cfg.PongWait), int64(c.hub.pingPeriod())
	heard := c.lastHeard.Load()
	if c.hasPresence() {
		wait = int64(c.hub.presenceWait())
		period = wait / 2
		// A ping planned on the pong wait, before the peer showed a presence, comes forward.
		c.pingAt = min(c.pingAt, heard+period)
		if t >= heard+wait {
			// Its cursor is on the others' screens: drop it at once, so that the cursor goes
			// too, rather than wait CloseTimeout for a close frame it will likely never read.
			if c.setClose(&closeCause{broken: true}) {
				c.log().Debug("peer with a presence silent past the presence wait")
			}
			return
		}
	}
	if t >= heard+wait {
		c.closeSilent()
		return
	}
	if t < c.pingAt-int64(c.hub.keepalivePeriod())/2 {
		return
	}
	c.pingAt = t + period
	c.Send(Frame{op: wsframe.OpPing}) // does nothing once the connection is closing
}

// removeConn takes c out of the connection table: the last connection takes its slot. h.mu is
// held.
func (h *Hub) removeConn(c *Conn) {
	if c.slot < 0 {
		return // not registered, or removed already
	}
	h.conns = removeSlot(h.conns, c, func(c *Conn) *int32 { return &c.slot })
}

// removeSlot takes c out of tab, a table of connections in which each knows its index (the field
// slot returns): the last connection takes c's place, and c's index becomes -1. A table that once
// held many more is given back.
func removeSlot(tab []*Conn, c *Conn, slot func(*Conn) *int32) []*Conn {
	i, last := *slot(c), len(tab)-1
	moved := tab[last]
	tab[i] = moved
	*slot(moved) = i
	tab[last] = nil
	tab = tab[:last]
	*slot(c) = -1
	if cap(tab) > 64 && len(tab) < cap(tab)/4 {
		tab = slices.Clip(slices.Clone(tab))
	}
	return tab
}

// Each calls visit for every open connection, outside the hub's lock, walking the table in
// chunks as the keepalive does (a connection that comes or goes meanwhile may be missed or
// visited twice).
func (h *Hub) Each(visit func(c *Conn)) {
	h.keepaliveScan(nil, func(c *Conn, _ time.Time) { visit(c) })
}
