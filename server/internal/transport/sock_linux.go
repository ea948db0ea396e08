package transport

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// sockConn is a plain TCP connection after its WebSocket handshake, held as its bare descriptor.
// The Go runtime's own connection keeps, for as long as the socket lives, a descriptor object, both
// addresses, a finalizer and a slot of the runtime's poller with its two deadline timers: about
// 600 bytes an idle connection has no use for, since the hub's poller (poll_linux.go) watches
// it and its writes do not wait (write_linux.go). detachConn hands the socket from the first to a
// sockConn, which is 24 bytes.
//
// A read or write that finds the socket not ready waits through a duplicate descriptor put on
// the runtime's poller for the time of the wait (wait): rare, since a reader waits only inside a
// frame cut short and a writer only on a full send buffer. A descriptor is a number the kernel
// reuses: every system call on it is made between acquire and release, and Close closes it only
// once no call runs, so that none can reach another connection's socket.
type sockConn struct {
	fd   int32
	refs atomic.Uint32 // sockClosed, and the number of system calls running on fd
	// Deadlines, Unix nanoseconds; 0 for none.
	rdl, wdl atomic.Int64
}

// sockClosed is the bit of sockConn.refs set by Close.
const sockClosed = 1 << 31

// detachConn returns nc's socket as a sockConn, closing nc, if nc is plain TCP; otherwise, or if
// the descriptor cannot be duplicated, it returns nc itself.
func detachConn(nc net.Conn) net.Conn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) { fd, derr = dupCloexec(int(s)) }); err != nil || derr != nil {
		return nc
	}
	// Closing the runtime's connection takes its descriptor off the runtime's poller and closes
	// it; the socket lives on in fd (it stays non-blocking: the flag is the socket's, not the
	// descriptor's).
	_ = tc.Close()
	return &sockConn{fd: int32(fd)}
}

// dupCloexec duplicates fd, close-on-exec.
func dupCloexec(fd int) (int, error) {
	for {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
		switch e {
		case 0:
			return int(r), nil
		case syscall.EINTR:
			continue
		default:
			return -1, os.NewSyscallError("fcntl", e)
		}
	}
}

// acquire reports whether a system call may use s.fd, and if so counts it until release.
func (s *sockConn) acquire() bool {
	for {
		v := s.refs.Load()
		if v&sockClosed != 0 {
			return false
		}
		if s.refs.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// release ends what acquire began; the last call on a closed socket closes its descriptor.
func (s *sockConn) release() {
	if s.refs.Add(^uint32(0)) == sockClosed {
		_ = syscall.Close(int(s.fd))
	}
}

// Close shuts the socket down, which wakes any read or write waiting on it, and closes its
// descriptor once no system call uses it.
func (s *sockConn) Close() error {
	if !s.acquire() {
		return net.ErrClosed
	}
	for {
		v := s.refs.Load()
		if v&sockClosed != 0 { // another Close came first
			s.release()
			return net.ErrClosed
		}
		if s.refs.CompareAndSwap(v, v|sockClosed) {
			break
		}
	}
	_ = syscall.Shutdown(int(s.fd), syscall.SHUT_RDWR)
	s.release()
	return nil
}

// Read reads into p, waiting (until the read deadline) while the socket has nothing.
func (s *sockConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !s.acquire() {
		return 0, net.ErrClosed
	}
	n, err := ignoringEINTRIO(syscall.Read, int(s.fd), p)
	s.release()
	if err == syscall.EAGAIN {
		if werr := s.wait(false, func(fd int) bool {
			n, err = ignoringEINTRIO(syscall.Read, fd, p)
			return err != syscall.EAGAIN
		}); werr != nil {
			return 0, werr
		}
	}
	switch {
	case err == nil && n == 0:
		return 0, io.EOF
	case err == nil:
		return n, nil
	default:
		return 0, os.NewSyscallError("read", err)
	}
}

// Write writes p whole, waiting (until the write deadline) while the send buffer is full.
func (s *sockConn) Write(p []byte) (int, error) {
	var w sockWriter
	return s.writeAll(&w, [][]byte{p}, 0, time.Time{})
}

// writeAll writes bufs whole with w's writev, waiting while the send buffer is full, and returns
// the bytes written. With idle, a wait may last idle since the socket last took bytes (the write
// deadline moves on with each write that takes some), and never past limit (zero: no limit);
// without, the write deadline set on s applies. bufs is consumed.
func (s *sockConn) writeAll(w *sockWriter, bufs [][]byte, idle time.Duration, limit time.Time) (int, error) {
	written := 0
	deadline := func() {
		if idle > 0 {
			d := time.Now().Add(idle)
			if !limit.IsZero() && limit.Before(d) {
				d = limit
			}
			s.wdl.Store(d.UnixNano())
		}
	}
	deadline()
	for {
		w.set(bufs)
		if w.k == 0 {
			return written, nil
		}
		n, err := w.write(s)
		if err != nil {
			return written, err
		}
		if n == 0 {
			var errno syscall.Errno
			err := s.wait(true, func(fd int) bool {
				w.set(bufs) // write cleared them
				n, errno = writevFD(fd, w)
				clear(w.iov[:w.k])
				return errno != syscall.EAGAIN
			})
			if err != nil {
				return written, err
			}
			if n, err = w.result(n, errno); err != nil {
				return written, err
			}
			deadline() // the socket took bytes after a wait: the next wait starts afresh
		}
		written += n
		bufs = consumeBufs(bufs, n)
	}
}

func bufsLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// writev runs w's writev on the socket (sockWriter.write).
func (s *sockConn) writev(w *sockWriter) (int, syscall.Errno) {
	if !s.acquire() {
		return 0, syscall.EBADF
	}
	defer s.release()
	return writevFD(int(s.fd), w)
}

// writevFD runs w's writev on fd.
func writevFD(fd int, w *sockWriter) (int, syscall.Errno) {
	for {
		r, _, e := syscall.Syscall(syscall.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&w.iov[0])), uintptr(w.k))
		if e != syscall.EINTR {
			return int(r), e
		}
	}
}

// control runs f with the socket's descriptor, which stays open meanwhile; false if the socket
// is closed.
func (s *sockConn) control(f func(fd int)) bool {
	if !s.acquire() {
		return false
	}
	defer s.release()
	f(int(s.fd))
	return true
}

// wait waits until try, called with a descriptor of the socket, reports that it did not find
// the socket unready (its system call did not fail with EAGAIN), or the socket is shut down, or
// its read (or write) deadline passes. It waits through a duplicate of the descriptor put on the
// runtime's poller for the time of the wait. try is called first at once: readiness may have come
// between the caller's EAGAIN and the duplicate's arrival on the poller, and would not be
// signalled again.
func (s *sockConn) wait(write bool, try func(fd int) bool) error {
	if !s.acquire() {
		return net.ErrClosed
	}
	defer s.release()
	dl := &s.rdl
	if write {
		dl = &s.wdl
	}
	var deadline time.Time
	if t := dl.Load(); t != 0 {
		if deadline = time.Unix(0, t); !time.Now().Before(deadline) {
			return os.ErrDeadlineExceeded
		}
	}
	fd, err := dupCloexec(int(s.fd))
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "socket") // non-blocking: on the runtime's poller
	defer f.Close()
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	call := func(fd uintptr) bool { return try(int(fd)) }
	if write {
		if err := f.SetWriteDeadline(deadline); err != nil {
			return err
		}
		return raw.Write(call)
	}
	if err := f.SetReadDeadline(deadline); err != nil {
		return err
	}
	return raw.Read(call)
}

func (s *sockConn) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

func (s *sockConn) SetReadDeadline(t time.Time) error {
	s.rdl.Store(unixNanoOrZero(t))
	return nil
}

func (s *sockConn) SetWriteDeadline(t time.Time) error {
	s.wdl.Store(unixNanoOrZero(t))
	return nil
}

// LocalAddr and RemoteAddr are nil: the addresses are not kept (the server logs the request's).
func (s *sockConn) LocalAddr() net.Addr  { return nil }
func (s *sockConn) RemoteAddr() net.Addr { return nil }

func unixNanoOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// ignoringEINTRIO calls fn until it is not interrupted.
func ignoringEINTRIO(fn func(fd int, p []byte) (int, error), fd int, p []byte) (int, error) {
	for {
		n, err := fn(fd, p)
		if err != syscall.EINTR {
			return n, err
		}
	}
}
