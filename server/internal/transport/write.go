package transport

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// drain is the connection's writer: it writes what is queued, each pass in one system call, until
// the queue is empty (and then exits; the next send starts another) or the connection closes (and
// then finishes it). At most one drain runs at a time, so frames never interleave on the socket.
//
// A write whose socket takes no byte for WriteTimeout makes the connection a slow consumer
// (writeFailed): the frame being written is finished and the close frame follows (finish), so
// that a client that reads again gets a whole stream and the code 1013, never a frame cut short.
func (c *Conn) drain() {
	defer c.wg.Done()
	var w frameWriter
	var tail [][]byte // the end of a frame begun, to write before the close frame
	failed := false   // a write failed: the connection closes (writeFailed gave the cause)
	for {
		c.mu.Lock()
		rest := c.rest
		c.rest = nil
		batch := c.queue
		c.queue = nil
		cause := c.closeErr
		if len(batch) == 0 && cause == nil && rest == nil {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if cause != nil && (cause.broken || cause.peerClosed || cause.slow) {
			c.unqueue(payloadBytes(batch))
			batch = nil
			if rest != nil {
				// Only the frame being written is finished, with the close frame.
				if !cause.broken {
					tail = frameTail(rest.frames, rest.off, rest.bufs)
				}
				c.unqueue(rest.queued)
				rest = nil
			}
		}
		if rest != nil {
			n, err := c.writeBufs(rest.bufs, c.hub.cfg.WriteTimeout, time.Time{})
			if err == nil {
				c.written(rest.frames, rest.queued)
			} else {
				c.unqueue(rest.queued)
				tail, failed = c.writeFailed(err, rest.frames, rest.off+n, consumeBufs(rest.bufs, n)), true
				c.unqueue(payloadBytes(batch))
				batch = nil
			}
		}
		if len(batch) > 0 {
			bufs, _ := w.gather(batch)
			n, err := c.writeBufs(bufs, c.hub.cfg.WriteTimeout, time.Time{})
			if err == nil {
				c.written(batch, payloadBytes(batch))
			} else {
				c.unqueue(payloadBytes(batch))
				tail, failed = c.writeFailed(err, batch, n, consumeBufs(bufs, n)), true
			}
			w.reset()
			clear(batch)
		}
		if failed {
			c.mu.Lock()
			cause = c.closeErr
			c.mu.Unlock()
		}
		if cause != nil {
			c.finish(&w, cause, tail)
			c.dropped()
			return
		}
	}
}

// unqueue takes n bytes of frames that will not be written out of queueBytes.
func (c *Conn) unqueue(n int) {
	if n != 0 {
		c.mu.Lock()
		c.queueBytes -= n
		c.mu.Unlock()
	}
}

// writeFailed acts on a failed write of frames, of which done bytes were written, rest being
// what is left of them, and returns what the close must be preceded by. A socket that took no
// byte for WriteTimeout is a slow consumer (closed with 1013; the rest of the frame being written
// is returned, to go before the close frame); any other error is a broken socket.
func (c *Conn) writeFailed(err error, frames []Frame, done int, rest [][]byte) [][]byte {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		c.log().Debug("write failed", "err", err)
		c.setClose(&closeCause{broken: true})
		return nil
	}
	if c.setClose(&closeCause{err: ErrWriteStalled, slow: true}) {
		c.hub.obs.SlowConsumer(SlowWriteStalled)
		c.hub.obs.Warn("slow consumer: the socket took nothing for the write timeout: closing", "doc", c.doc(), "conn", c.id, "write_timeout", c.hub.cfg.WriteTimeout)
	}
	return frameTail(frames, done, rest)
}

// frameTail returns the part of rest (what is left to write of frames, done bytes of which are
// written) that ends the frame being written: nothing when done is at a frame's end. The slices
// are new; the bytes are rest's.
func frameTail(frames []Frame, done int, rest [][]byte) [][]byte {
	end := 0
	for _, f := range frames {
		if end >= done {
			break
		}
		end += wsframe.HeaderLen(len(f.Data)) + len(f.Data)
	}
	left := end - done
	var tail [][]byte
	for _, b := range rest {
		if left <= 0 {
			break
		}
		k := min(len(b), left)
		tail = append(tail, b[:k])
		left -= k
	}
	return tail
}

// writeBufs writes bufs whole and returns the bytes written: first as far as the socket's buffer
// takes them at once, then waiting for the socket, for at most idle since it last took bytes and
// never past limit (zero: none). A wait that passes its bound fails with os.ErrDeadlineExceeded.
func (c *Conn) writeBufs(bufs [][]byte, idle time.Duration, limit time.Time) (int, error) {
	if c.direct {
		return c.hub.poll.writeAll(c.nc, bufs, idle, limit)
	}
	// Without the descriptor the deadline is set once: idle from now, within limit.
	d := time.Now().Add(idle)
	if !limit.IsZero() && limit.Before(d) {
		d = limit
	}
	if err := c.nc.SetWriteDeadline(d); err != nil {
		return 0, err
	}
	if len(bufs) == 1 {
		return c.nc.Write(bufs[0])
	}
	nb := append(net.Buffers(nil), bufs...) // WriteTo cuts the buffers it is given in place
	n, err := nb.WriteTo(c.nc)
	return int(n), err
}

// frameWriter gathers frames for one system call: headers and small payloads are copied
// together into one buffer, larger payloads are written from where they are (update bytes shared
// by every connection), beside them. A pass with large payloads is one writev (net.Buffers); one
// with small frames only is one write, which also spares the socket the iovec array the runtime
// keeps after a writev. The buffer is sized to the pass (flatLen) and dropped after it: a pool
// would keep a buffer for every writer that ran at once during a burst of fan-out.
type frameWriter struct {
	flat  []byte // headers and small payloads
	start int    // flat[start:] is not yet in bufs
	bufs  net.Buffers
}

// copyMaxBytes is the largest payload a frameWriter copies rather than points to.
const copyMaxBytes = 512

// flatLen returns the bytes that add copies for a frame of n bytes of payload.
func flatLen(n int) int {
	if n <= copyMaxBytes {
		return wsframe.HeaderLen(n) + n
	}
	return wsframe.HeaderLen(n)
}

// add appends a frame.
func (w *frameWriter) add(op wsframe.Opcode, p []byte) {
	w.flat = wsframe.AppendHeader(w.flat, op, len(p))
	if len(p) <= copyMaxBytes {
		w.flat = append(w.flat, p...)
		return
	}
	w.bufs = append(w.bufs, w.flat[w.start:len(w.flat):len(w.flat)], p)
	w.start = len(w.flat)
}

// gather adds frames (a binary message unless op says otherwise) in a buffer sized for them, and
// returns the slices to write, which stay valid until the next add, and their length.
func (w *frameWriter) gather(frames []Frame) ([][]byte, int) {
	n := 0
	for _, f := range frames {
		n += flatLen(len(f.Data))
	}
	w.flat = make([]byte, 0, n)
	total := 0
	for _, f := range frames {
		op := f.op
		if op == 0 {
			op = wsframe.OpBinary
		}
		w.add(op, f.Data)
		total += wsframe.HeaderLen(len(f.Data)) + len(f.Data)
	}
	if w.start < len(w.flat) {
		w.bufs = append(w.bufs, w.flat[w.start:])
		w.start = len(w.flat)
	}
	return w.bufs, total
}

// writeTo writes the gathered frames to c (Conn.writeBufs: idle and limit bound the waits), and
// empties w.
func (w *frameWriter) writeTo(c *Conn, idle time.Duration, limit time.Time) error {
	if w.start < len(w.flat) {
		w.bufs = append(w.bufs, w.flat[w.start:])
	}
	defer w.reset()
	if len(w.bufs) == 0 {
		return nil
	}
	_, err := c.writeBufs(w.bufs, idle, limit)
	return err
}

// reset empties w, keeping nothing the frames point to.
func (w *frameWriter) reset() {
	clear(w.bufs)
	w.bufs, w.flat, w.start = w.bufs[:0], nil, 0
}

// finish sends tail (the end of a frame begun), then the error message and the close frame the
// cause calls for, waiting at most CloseTimeout for the socket to take them; then it waits for the
// peer's close (the reader ends when it arrives) or CloseGrace, and drops the socket. It runs once,
// on the last drain goroutine; the connection's end (ended) waits for that goroutine.
func (c *Conn) finish(w *frameWriter, cause *closeCause, tail [][]byte) {
	c.mu.Lock()
	var readerDone chan struct{}
	if !c.readerEnded {
		c.readerDone = make(chan struct{})
		readerDone = c.readerDone
	}
	c.mu.Unlock()
	if !cause.broken && cause.err != nil {
		e := cause.err
		w.bufs = append(w.bufs[:0], tail...)
		var msg []byte
		if !cause.quiet && e.Code != protocol.CloseNormal && e.Code != protocol.CloseGoingAway {
			msg = protocol.EncodeFrame(0, e)
			w.add(wsframe.OpBinary, msg)
		}
		w.add(wsframe.OpClose, wsframe.ClosePayload(uint16(e.Code), e.CloseReason()))
		if err := w.writeTo(c, c.hub.cfg.CloseTimeout, time.Now().Add(c.hub.cfg.CloseTimeout)); err != nil {
			c.log().Debug("close frame not sent", "err", err)
		} else if msg != nil {
			c.hub.obs.Sent(1, uint64(len(msg)))
		}
		if !cause.peerClosed && e.Code != protocol.CloseNormal && e.Code != protocol.CloseGoingAway && e.Code != protocol.CloseTryAgainLater {
			c.hub.handler.Refused(c, e)
		}
	}
	if !cause.broken && readerDone != nil {
		t := time.NewTimer(CloseGrace)
		select {
		case <-readerDone:
		case <-t.C:
		}
		t.Stop()
	}
	_ = c.nc.Close()
}

// WriteFrame writes one frame of opcode op and payload p to nc, a socket no Conn holds, as a
// connection's writer would when it cannot write with the descriptor: the whole frame in one
// write, with a deadline timeout from now. The frame layer's conformance tests serve their echo
// peer with it.
func WriteFrame(nc net.Conn, op wsframe.Opcode, p []byte, timeout time.Duration) error {
	var w frameWriter
	w.add(op, p)
	return w.writeTo(&Conn{nc: nc}, timeout, time.Time{})
}
