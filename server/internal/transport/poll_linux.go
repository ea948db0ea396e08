package transport

import (
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// An idle connection has no goroutine: its socket sits on the hub's epoll instance, armed with
// EPOLLONESHOT. When bytes arrive, the poller's goroutine starts a reader goroutine for the
// connection (poller.read), which reads frames with the usual path (Conn.readOne) for as long as
// its buffer or the socket holds bytes, then re-arms the socket and exits. One-shot arming means
// that a connection never has two readers: the next event can only come after the reader re-armed,
// so its messages reach the actor in the order they were sent, and none is read twice or skipped.

// poller is the hub's epoll instance, the goroutine that waits on it, and the read buffers its
// readers borrow. It is created with the Hub, starts (epoll instance and goroutine) with the
// first connection put on it, and is closed by Shutdown once every connection has ended.
// Connections are known by a key (the event's data), not by descriptor: a descriptor is reused
// after a close, and a stale event must not reach the next connection that gets it. A key's low
// half is one more than the connection's slot in the poller's table (so that no key is 0, the wake
// pipe's), its high half a count of the connections added: a slot is reused, a key is not (not
// until four billion connections later), and an event whose key is not its slot's current
// connection's is stale.
type poller struct {
	bufs *wsframe.BufferPool

	mu     sync.Mutex
	epfd   int      // -1 until started
	epf    *os.File // epfd, non-blocking, on the Go runtime's own poller (run waits there)
	wake   [2]int
	conns  []*Conn  // by slot; nil in a free slot
	free   []uint32 // the free slots of conns
	next   uint32   // connections added: the high half of the next key
	closed bool
	done   chan struct{} // closed when run returns

	readers sync.WaitGroup // reader goroutines started by run

	writers sync.Pool // *sockWriter, for the writes that do not wait (write_linux.go)
}

func newPoller() *poller {
	p := &poller{bufs: wsframe.NewBufferPool(readBufferBytes), epfd: -1}
	p.writers.New = newSockWriter
	return p
}

// add puts c's socket on the poller, armed, and reports whether it did. It does not for sockets
// other than plain TCP (TLS keeps decrypted bytes in a buffer the poller cannot see, net.Pipe has
// no descriptor) or when the poller is closed or cannot start: the caller then reads in a
// goroutine of its own.
func (p *poller) add(c *Conn) bool {
	if !c.direct { // not plain TCP (Init)
		return false
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	if p.epfd < 0 {
		if err := p.start(); err != nil {
			p.mu.Unlock()
			c.log().Debug("poller unavailable: reading in a goroutine", "err", err)
			return false
		}
	}
	p.put(c)
	p.mu.Unlock()
	c.pollState.Store(pollIdle)
	if err := p.arm(c, syscall.EPOLL_CTL_ADD); err != nil && c.pollState.CompareAndSwap(pollIdle, pollOff) {
		// Not armed (the socket may be closed already): read in a goroutine, which sees what
		// became of it.
		p.remove(c)
		return false
	}
	// Armed, or the writer dropped the socket meanwhile and took the reader's role (dropped).
	return true
}

// start creates the epoll instance and starts the goroutine that waits on it. p.mu is held.
func (p *poller) start() error {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return os.NewSyscallError("pipe2", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN} // key 0
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(p.wake[0])
		syscall.Close(p.wake[1])
		return os.NewSyscallError("epoll_ctl", err)
	}
	// The epoll instance is itself waited on through the Go runtime's poller (an epoll descriptor
	// is readable when it holds events): run never blocks in epoll_wait, which would hold a
	// scheduler slot (a P) until the runtime noticed and took it back, up to milliseconds later;
	// with GOMAXPROCS=1 that stalled every other goroutine meanwhile.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		syscall.Close(p.wake[0])
		syscall.Close(p.wake[1])
		return os.NewSyscallError("fcntl", err)
	}
	epf := os.NewFile(uintptr(epfd), "epoll")
	raw, err := epf.SyscallConn()
	if err != nil {
		epf.Close()
		syscall.Close(p.wake[0])
		syscall.Close(p.wake[1])
		return err
	}
	p.epfd, p.epf = epfd, epf
	p.done = make(chan struct{})
	go p.run(raw)
	return nil
}

// arm arms c's socket for one readable event (op is EPOLL_CTL_ADD or EPOLL_CTL_MOD). The socket
// is held open during the call (RawConn.Control), so that its descriptor cannot be closed and
// reused by another connection in between; a closed socket is an error.
func (p *poller) arm(c *Conn, op int) error {
	// Under p.mu, so that close cannot close the epoll instance (whose descriptor could then be
	// reused) during the call.
	p.mu.Lock()
	defer p.mu.Unlock()
	epfd := p.epfd
	if epfd < 0 {
		return os.ErrClosed
	}
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(c.pollKey)),
		Pad:    int32(uint32(c.pollKey >> 32)),
	}
	var err error
	if !c.nc.(*sockConn).control(func(fd int) { err = syscall.EpollCtl(epfd, op, fd, &ev) }) {
		return os.ErrClosed
	}
	return err
}

// put gives c a slot in the poller's table and a key. p.mu is held.
func (p *poller) put(c *Conn) {
	var slot uint32
	if n := len(p.free); n > 0 {
		slot, p.free = p.free[n-1], p.free[:n-1]
	} else {
		slot = uint32(len(p.conns))
		p.conns = append(p.conns, nil)
	}
	p.next++
	c.pollKey = uint64(p.next)<<32 | uint64(slot+1)
	p.conns[slot] = c
}

// remove takes c off the poller's table; its socket leaves the epoll instance when it is closed.
func (p *poller) remove(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	slot := uint32(c.pollKey) - 1
	if int(slot) >= len(p.conns) || p.conns[slot] != c {
		return
	}
	p.conns[slot] = nil
	p.free = append(p.free, slot)
	if len(p.free) == len(p.conns) {
		p.conns, p.free = nil, nil // give back a table that once held a crowd
	}
}

// lookup returns the connection an event's key names, or nil if the event is stale. p.mu is
// held.
func (p *poller) lookup(key uint64) *Conn {
	slot := uint32(key) - 1
	if int(slot) < len(p.conns) {
		if c := p.conns[slot]; c != nil && c.pollKey == key {
			return c
		}
	}
	return nil
}

// run waits for readable sockets and starts a reader for each, until the wake pipe is written.
func (p *poller) run(raw syscall.RawConn) {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	for {
		var n int
		var err error
		rerr := raw.Read(func(fd uintptr) bool {
			n, err = syscall.EpollWait(int(fd), events, 0)
			// Nothing ready: wait on the runtime's poller for the instance to become readable.
			return n > 0 || (err != nil && err != syscall.EINTR)
		})
		if err == nil && rerr != nil {
			err = rerr
		}
		if err != nil {
			// Not expected (the descriptor and the buffer are ours). Connections on the poller
			// can no longer be re-armed: each reader then closes its connection, and the
			// silence check closes the idle ones.
			return
		}
		for _, ev := range events[:n] {
			key := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if key == 0 {
				return
			}
			p.mu.Lock()
			c := p.lookup(key)
			p.mu.Unlock()
			if c != nil && c.pollState.CompareAndSwap(pollIdle, pollReading) {
				p.readers.Add(1)
				go p.read(c)
			}
		}
	}
}

// read is c's reader while its socket has bytes: it reads frames while its buffer or the socket
// holds bytes (a frame cut short is waited for, with the read deadline), then gives the buffer
// back, re-arms the socket and returns. When the connection's reading is over, it ends it.
func (p *poller) read(c *Conn) {
	defer p.readers.Done()
	for {
		if !c.readOne() {
			c.pollState.Store(pollDone)
			p.end(c)
			return
		}
		if c.fr.Buffered() > 0 || c.readable() {
			continue
		}
		c.readerIdle()
		c.pollState.Store(pollIdle)
		err := p.arm(c, syscall.EPOLL_CTL_MOD)
		if err == nil || !c.pollState.CompareAndSwap(pollIdle, pollReading) {
			// Armed: the next event starts the next reader. Or not armed because the socket was
			// dropped, and the writer has taken the reader's role (dropped).
			return
		}
		// Not armed, and the reader's role is still ours: the poller is closed or the socket
		// failed. Close it; the next read sees it closed and ends the connection.
		c.setClose(&closeCause{broken: true})
	}
}

// readable reports whether c's socket has bytes to read, or an end or an error that a read would
// report; false means a read would wait. It peeks without waiting (MSG_PEEK | MSG_DONTWAIT), so
// that a busy connection goes on reading instead of re-arming for every message.
func (c *Conn) readable() bool {
	var buf [1]byte
	var errno syscall.Errno
	if !c.nc.(*sockConn).control(func(fd int) {
		_, _, errno = syscall.Syscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	}) {
		return true
	}
	return errno != syscall.EAGAIN
}

// end ends a polled connection once its reader is done (pollDone): it leaves its document, goes
// off the poller, and ends like any other (ended).
func (p *poller) end(c *Conn) {
	c.endRead()
	p.remove(c)
	c.ended()
}

// dropped is called by the writer once it has closed the socket. A connection armed on the poller
// has no reader to notice: dropped takes the reader's role and ends it.
func (c *Conn) dropped() {
	if c.pollState.CompareAndSwap(pollIdle, pollDone) {
		go c.hub.poll.end(c)
	}
}

// close stops the poller: its goroutine, its epoll instance, and then waits for the readers it
// started. Connections added later read in goroutines of their own. Shutdown calls it once every
// connection has ended.
func (p *poller) close() {
	p.mu.Lock()
	p.closed = true
	epfd := p.epfd
	p.epfd = -1
	p.mu.Unlock()
	if epfd >= 0 {
		_, _ = syscall.Write(p.wake[1], []byte{1})
		<-p.done
		p.epf.Close()
		syscall.Close(p.wake[0])
		syscall.Close(p.wake[1])
	}
	p.readers.Wait()
}
