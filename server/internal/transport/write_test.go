package transport

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection with small, fixed socket buffers, so that
// a writer fills them quickly.
func tcpPair(t *testing.T) (srv, cli *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	srv, cli = s.(*net.TCPConn), c.(*net.TCPConn)
	if err := srv.SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	if err := cli.SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(); cli.Close() })
	return srv, cli
}

// readServerFrame reads one unmasked frame and returns its opcode and payload.
func readServerFrame(r io.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("masked server frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return h[0], p, err
}

// TestSendWhenSocketFull sends frames of every header size to a peer that does not read until all
// are sent, one at a time (send: written by the sender itself, writeInline) or held and flushed in
// batches as the actor does (hold, flush). The socket's buffer fills, part of a frame is left to
// the writer goroutine (restWrite) and the rest is queued. The peer must then read every frame
// whole and in order, and the writer must end once all is written.
func TestSendWhenSocketFull(t *testing.T) {
	for _, batch := range []int{0, 1, 7} { // 0: send; n: hold n frames, then flush
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			cfg := testConfig()
			cfg.SendQueueMessages = 10_000
			cfg.SendQueueBytes = 64 << 20
			h := newTestHub(t, cfg)
			srv, cli := tcpPair(t)
			c := new(Conn)
			h.Init(c, srv, false)
			if writeNowAvailable && !c.direct {
				t.Fatal("a TCP connection has no descriptor for writeNow")
			}
			sizes := []int{0, 10, 125, 126, 700, 3000, 65535, 65536, 100_000}
			const frames = 120
			var want [][]byte
			held := false
			for i := range frames {
				p := bytes.Repeat([]byte{byte(i)}, sizes[i%len(sizes)])
				want = append(want, p)
				if batch == 0 {
					if !c.Send(Frame{Data: p}) {
						t.Fatalf("send %d refused", i)
					}
					continue
				}
				held = c.Hold(Frame{Data: p}) || held
				if (i+1)%batch == 0 || i == frames-1 {
					if held {
						c.Flush()
					}
					held = false
				}
			}
			c.mu.Lock()
			busy := c.writing
			c.mu.Unlock()
			if !busy {
				t.Fatal("the writer is idle with several MiB unread: the socket buffer did not fill")
			}
			_ = cli.SetReadDeadline(time.Now().Add(20 * time.Second))
			for i, w := range want {
				op, p, err := readServerFrame(cli)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if op != 0x82 || !bytes.Equal(p, w) {
					t.Fatalf("frame %d: opcode %#x, %d bytes (first %v); want 0x82, %d bytes of %d", i, op, len(p), p[:min(len(p), 4)], len(w), byte(i))
				}
			}
			waitFor(t, 5*time.Second, "the writer to end", func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				return !c.writing && c.queueBytes == 0 && c.rest == nil && len(c.queue) == 0
			})
		})
	}
}

// TestConsumeBufs checks that consumeBufs returns what is left after n bytes and leaves the
// slices it was given as they were: a writer that timed out after writing part of a buffer works
// out the end of the frame begun from its own view of what it wrote, and a view cut in place made
// it see the frame ended, so that the close frame went inside it (a stream cut short).
func TestConsumeBufs(t *testing.T) {
	in := [][]byte{[]byte("abc"), []byte("defg"), []byte("hijkl")}
	all := string(bytes.Join(in, nil))
	for n := 0; n <= len(all); n++ {
		bufs := append([][]byte(nil), in...)
		got := string(bytes.Join(consumeBufs(bufs, n), nil))
		if got != all[n:] {
			t.Errorf("consumeBufs(%d) = %q; want %q", n, got, all[n:])
		}
		for i := range in {
			if string(bufs[i]) != string(in[i]) {
				t.Errorf("consumeBufs(%d) changed its input: buffer %d is %q; want %q", n, i, bufs[i], in[i])
			}
		}
	}
}
