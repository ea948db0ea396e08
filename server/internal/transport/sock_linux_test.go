package transport

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// sockPair returns a detached server end (sockConn) and the plain client end of a loopback TCP
// connection with small socket buffers (tcpPair).
func sockPair(t *testing.T) (*sockConn, *net.TCPConn) {
	t.Helper()
	srv, cli := tcpPair(t)
	s, ok := detachConn(srv).(*sockConn)
	if !ok {
		t.Fatal("a TCP connection was not detached")
	}
	t.Cleanup(func() { s.Close() })
	return s, cli
}

// fdOpen reports whether fd is an open descriptor.
func fdOpen(fd int32) bool {
	_, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	return e == 0
}

func TestSockConnWriteWaitsForReader(t *testing.T) {
	s, cli := sockPair(t)
	want := make([]byte, 4<<20) // far more than both socket buffers
	for i := range want {
		want[i] = byte(i * 7)
	}
	done := make(chan error, 1)
	go func() {
		n, err := s.Write(want)
		if err == nil && n != len(want) {
			err = io.ErrShortWrite
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the writer fill the buffers and wait
	_ = cli.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(cli, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes read are not the bytes written")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSockConnReadWaitsForWriter(t *testing.T) {
	s, cli := sockPair(t)
	go func() {
		time.Sleep(50 * time.Millisecond)
		cli.Write([]byte("late"))
		time.Sleep(50 * time.Millisecond)
		cli.Close()
	}()
	_ = s.SetReadDeadline(time.Now().Add(20 * time.Second))
	var buf [16]byte
	n, err := s.Read(buf[:])
	if err != nil || string(buf[:n]) != "late" {
		t.Fatalf("Read = %q, %v; want \"late\"", buf[:n], err)
	}
	if n, err := s.Read(buf[:]); n != 0 || err != io.EOF {
		t.Fatalf("Read after the peer closed = %d, %v; want io.EOF", n, err)
	}
}

func TestSockConnDeadlines(t *testing.T) {
	s, _ := sockPair(t)
	_ = s.SetDeadline(time.Now().Add(50 * time.Millisecond))
	var buf [16]byte
	if _, err := s.Read(buf[:]); !errors.Is(err, os.ErrDeadlineExceeded) || !isNetClosed(err) {
		t.Fatalf("Read past the deadline: %v; want a timeout", err)
	}
	if _, err := s.Write(make([]byte, 8<<20)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past the deadline to a peer that reads nothing: %v; want a timeout", err)
	}
	_ = s.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := s.Read(buf[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read with a deadline passed: %v; want a timeout", err)
	}
}

// TestSockConnCloseWakesWaiters closes a socket while a read and a write wait on it: both return,
// and the descriptor is closed only after both have (a descriptor closed under a running system
// call could be reused by the next connection accepted, which would then get the call).
func TestSockConnCloseWakesWaiters(t *testing.T) {
	s, _ := sockPair(t)
	errs := make(chan error, 2)
	go func() {
		var buf [16]byte
		_, err := s.Read(buf[:])
		errs <- err
	}()
	go func() {
		_, err := s.Write(make([]byte, 8<<20))
		errs <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if !fdOpen(s.fd) {
		t.Fatal("descriptor closed before Close")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case err := <-errs:
			if err == nil {
				t.Fatal("a call waiting on a closed socket returned no error")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not wake a waiting call")
		}
	}
	waitFor(t, 5*time.Second, "the descriptor to be closed", func() bool { return s.refs.Load() == sockClosed })
	if fdOpen(s.fd) {
		// Another test's socket could have taken the number meanwhile; no test here opens one.
		t.Fatal("descriptor still open once no call uses it")
	}
	if err := s.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v; want net.ErrClosed", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v; want net.ErrClosed", err)
	}
}

func TestDetachConnKeepsOthers(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := detachConn(a); got != a {
		t.Fatalf("detachConn(net.Pipe end) = %T; want it unchanged", got)
	}
	if isDirect(a) {
		t.Fatal("a pipe is direct")
	}
}

// TestSendBufferBytes checks that every connection's socket has the configured send buffer
// (SO_SNDBUF; Linux reports twice what was set, its bookkeeping included), not the kernel's, which
// grows to megabytes for a client that reads slowly.
func TestSendBufferBytes(t *testing.T) {
	for _, want := range []int{256 << 10, 64 << 10} {
		cfg := testConfig()
		cfg.SendBufferBytes = want
		h := newTestHub(t, cfg)
		srv, _ := tcpPair(t)
		c := new(Conn)
		h.Init(c, srv, false)
		got := -1
		var err error
		c.nc.(*sockConn).control(func(fd int) { got, err = syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF) })
		if err != nil || got < want || got > 2*want {
			t.Errorf("SendBufferBytes %d: SO_SNDBUF %d (%v); want %d to %d", want, got, err, want, 2*want)
		}
		_ = c.nc.Close()
	}
}

// TestSockConnWriteAllTimeoutKeepsBufs writes more than the socket buffers hold to a peer that
// reads nothing: the write times out after writing part of the buffers, and the caller's buffers
// are as they were, so that what is left of them is found from the count written.
func TestSockConnWriteAllTimeoutKeepsBufs(t *testing.T) {
	s, _ := sockPair(t)
	var bufs [][]byte
	total := 0
	for i := range 8 {
		b := bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
		bufs = append(bufs, b)
		total += len(b)
	}
	view := append([][]byte(nil), bufs...)
	var w sockWriter
	n, err := s.writeAll(&w, view, 100*time.Millisecond, time.Time{})
	if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n >= total {
		t.Fatalf("writeAll = %d, %v; want part of %d bytes written, then a timeout", n, err, total)
	}
	for i := range bufs {
		if len(view[i]) != len(bufs[i]) || &view[i][0] != &bufs[i][0] {
			t.Fatalf("after %d bytes written, buffer %d of the caller's view was cut to %d bytes", n, i, len(view[i]))
		}
	}
	left := 0
	for _, b := range consumeBufs(view, n) {
		left += len(b)
	}
	if n+left != total {
		t.Fatalf("%d bytes written and %d left of %d", n, left, total)
	}
}
