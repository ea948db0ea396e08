package transport

import (
	"net"
	"syscall"
	"time"

	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// writeNowAvailable says that the poller's writeNow writes: Conn.Send writes a frame on the
// sender's goroutine when the connection's writer is idle, and the writer waits (with a deadline)
// only when the socket's buffer is full.
const writeNowAvailable = true

// isDirect reports whether nc is a socket that writeNow can write to (detachConn's sockConn).
func isDirect(nc net.Conn) bool {
	_, ok := nc.(*sockConn)
	return ok
}

// sockWriter is the state of one writev: the iovecs and the frame header they may point to. The
// poller keeps them in a pool, so that a write allocates nothing.
type sockWriter struct {
	hdr [wsframe.MaxHeaderBytes]byte
	iov [8]syscall.Iovec
	k   int
}

func newSockWriter() any { return &sockWriter{} }

// set points the iovecs at bufs (at most len(w.iov) of the non-empty ones).
func (w *sockWriter) set(bufs [][]byte) {
	w.k = 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if w.k == len(w.iov) {
			break
		}
		w.iov[w.k].Base = &b[0]
		w.iov[w.k].SetLen(len(b))
		w.k++
	}
}

// write runs the writev on s and returns the bytes written: 0 when the buffer is full, an error
// when the socket failed or is closed.
func (w *sockWriter) write(s *sockConn) (int, error) {
	defer clear(w.iov[:w.k]) // keep no pointer to the frames in the pool
	if w.k == 0 {
		return 0, nil
	}
	return w.result(s.writev(w))
}

// result turns a writev's outcome into write's.
func (w *sockWriter) result(n int, errno syscall.Errno) (int, error) {
	switch errno {
	case 0:
		return n, nil
	case syscall.EAGAIN:
		return 0, nil
	case syscall.EBADF:
		return 0, net.ErrClosed
	default:
		return 0, errno
	}
}

// writeNow writes bufs to nc (a sockConn) as far as its send buffer takes them at once, without
// waiting, and returns how many bytes it wrote (0 when the buffer is full). An error is the
// socket's failure or its closing, never a full buffer.
func (p *poller) writeNow(nc net.Conn, bufs [][]byte) (int, error) {
	w := p.writers.Get().(*sockWriter)
	defer p.writers.Put(w)
	w.set(bufs)
	return w.write(nc.(*sockConn))
}

// writeFrameNow is writeNow for one frame of opcode op and payload data. It returns the bytes
// written and the header's length.
func (p *poller) writeFrameNow(nc net.Conn, op wsframe.Opcode, data []byte) (n, hdrLen int, err error) {
	w := p.writers.Get().(*sockWriter)
	defer p.writers.Put(w)
	h := wsframe.AppendHeader(w.hdr[:0], op, len(data))
	w.k = 1
	w.iov[0].Base = &h[0]
	w.iov[0].SetLen(len(h))
	if len(data) > 0 {
		w.iov[1].Base = &data[0]
		w.iov[1].SetLen(len(data))
		w.k = 2
	}
	n, err = w.write(nc.(*sockConn))
	return n, len(h), err
}

// writeAll writes bufs whole to nc (a sockConn), waiting while its send buffer is full for at
// most idle since it last took bytes, and never past limit (zero: no limit). It returns the bytes
// written; a wait that passes its bound fails with os.ErrDeadlineExceeded. bufs is consumed.
func (p *poller) writeAll(nc net.Conn, bufs [][]byte, idle time.Duration, limit time.Time) (int, error) {
	s := nc.(*sockConn)
	w := p.writers.Get().(*sockWriter)
	defer p.writers.Put(w)
	return s.writeAll(w, bufs, idle, limit)
}
