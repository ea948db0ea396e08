package server

import (
	"syscall"
	"unsafe"

	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// writeNowAvailable says that the poller's writeNow writes: conn.send writes a frame on the
// sender's goroutine when the connection's writer is idle, and the writer sets a deadline only
// when the socket's buffer is full.
const writeNowAvailable = true

// sockWriter is the state of one writev that must not wait: the iovecs, the frame header they may
// point to, and the function the socket's RawConn.Write calls, bound once. The poller keeps them
// in a pool, so that a write allocates nothing.
type sockWriter struct {
	hdr   [wsframe.MaxHeaderBytes]byte
	iov   [8]syscall.Iovec
	k     int
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

func newSockWriter() any {
	w := &sockWriter{}
	w.fn = w.writev
	return w
}

// writev is called by RawConn.Write with the descriptor: one writev, never a wait (a full buffer is
// for the caller to handle).
func (w *sockWriter) writev(fd uintptr) bool {
	for {
		r, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(w.k))
		if e == syscall.EINTR {
			continue
		}
		w.n, w.errno = int(r), e
		return true
	}
}

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

// write runs the writev on raw and returns the bytes written: 0 when the buffer is full, an error
// when the socket failed or is closed.
func (w *sockWriter) write(raw syscall.RawConn) (int, error) {
	defer clear(w.iov[:w.k]) // keep no pointer to the frames in the pool
	if w.k == 0 {
		return 0, nil
	}
	if err := raw.Write(w.fn); err != nil {
		return 0, err
	}
	switch w.errno {
	case 0:
		return w.n, nil
	case syscall.EAGAIN:
		return 0, nil
	default:
		return 0, w.errno
	}
}

// writeNow writes bufs to the socket as far as its send buffer takes them at once, without waiting
// and without a deadline, and returns how many bytes it wrote (0 when the buffer is full). An
// error is the socket's failure or its closing, never a full buffer.
func (p *poller) writeNow(raw syscall.RawConn, bufs [][]byte) (int, error) {
	w := p.writers.Get().(*sockWriter)
	defer p.writers.Put(w)
	w.set(bufs)
	return w.write(raw)
}

// writeFrameNow is writeNow for one frame of opcode op and payload data. It returns the bytes
// written and the header's length.
func (p *poller) writeFrameNow(raw syscall.RawConn, op wsframe.Opcode, data []byte) (n, hdrLen int, err error) {
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
	n, err = w.write(raw)
	return n, len(h), err
}
