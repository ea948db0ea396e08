// Package wsclient is the load generator's WebSocket client (RFC 6455), lean because the
// generator's CPU is shared with the server it measures, so its receive path must cost as little
// as possible per delivery.
//
//   - Reads go into one buffer per connection: one read syscall brings in every frame the kernel
//     holds, and frames are parsed in place, without a copy or an allocation (a message is a slice
//     of the buffer, valid until the next read).
//   - A write is one syscall: header and masked payload are built in a buffer of the connection,
//     reused, and written at once. No write deadline is armed per message (arming one is a timer
//     operation); the run's context closes every socket at the end instead.
//   - No compression, no subprotocol, no extensions; pings are answered with pongs, a close frame
//     ends the connection with its code.
//
// Only what the bench needs: binary messages from a server on 127.0.0.1.
package wsclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/protocol"
)

// WebSocket opcodes.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xa
)

const (
	wsReadBufBytes  = 8 << 10  // initial read buffer; grows for a larger frame
	wsMaxMessage    = 64 << 20 // largest message accepted (the latency bench's are tiny)
	wsMaxHeaderResp = 16 << 10 // largest HTTP upgrade response
	wsAcceptGUID    = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
)

var errWSProtocol = errors.New("bench: websocket protocol error")

// Conn is one client WebSocket. One goroutine reads (ReadMessage); any goroutine may write.
type Conn struct {
	nc net.Conn

	// Reader side, owned by the reading goroutine.
	rbuf []byte // rbuf[r:w] is received and not yet parsed
	r, w int
	frag []byte // a fragmented message in progress

	// Writer side.
	wmu     sync.Mutex
	wbuf    []byte
	maskRNG uint64 // xorshift state for the masking keys
	closed  bool   // close sent (under wmu)
}

// Dial opens a WebSocket to rawURL (ws://host:port/path?query) and completes the upgrade. A
// refusal with an HTTP status is a *client.HandshakeError, as the tandem client reports it.
func Dial(ctx context.Context, rawURL string) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "ws" || u.Host == "" {
		return nil, fmt.Errorf("bench: websocket url %q: want ws://host:port/path", rawURL)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("bench: dial %s: %w", rawURL, err)
	}
	c := &Conn{nc: nc, rbuf: make([]byte, wsReadBufBytes)}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	c.maskRNG = binary.LittleEndian.Uint64(seed[:]) | 1
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	err = c.handshake(u)
	if !stop() || err != nil {
		nc.Close()
		if err == nil || ctx.Err() != nil {
			err = fmt.Errorf("bench: dial %s: %w", rawURL, ctx.Err())
		}
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// handshake sends the upgrade request and reads the answer; bytes after the answer's headers stay
// in the read buffer (the server may send its first frame in the same segment).
func (c *Conn) handshake(u *url.URL) error {
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + k +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c.nc, req); err != nil {
		return fmt.Errorf("bench: upgrade: %w", err)
	}
	for {
		if end := bytes.Index(c.rbuf[:c.w], []byte("\r\n\r\n")); end >= 0 {
			c.r = end + 4
			return checkUpgrade(c.rbuf[:end], k, c.rbuf[c.r:c.w])
		}
		if c.w == len(c.rbuf) {
			if len(c.rbuf) >= wsMaxHeaderResp {
				return fmt.Errorf("%w: upgrade response headers over %d bytes", errWSProtocol, wsMaxHeaderResp)
			}
			c.rbuf = append(c.rbuf, make([]byte, len(c.rbuf))...)
		}
		n, err := c.nc.Read(c.rbuf[c.w:])
		c.w += n
		if err != nil && n == 0 {
			return fmt.Errorf("bench: upgrade: %w", err)
		}
	}
}

// checkUpgrade checks the status line and the accept key of an upgrade response (its headers,
// without the blank line). A status other than 101 becomes a *client.HandshakeError whose body is
// what followed the headers in the same read.
func checkUpgrade(head []byte, key string, rest []byte) error {
	lines := bytes.Split(head, []byte("\r\n"))
	status := 0
	if f := bytes.Fields(lines[0]); len(f) >= 2 && bytes.HasPrefix(f[0], []byte("HTTP/1.")) {
		status, _ = strconv.Atoi(string(f[1]))
	}
	if status == 0 {
		return fmt.Errorf("%w: upgrade status line %q", errWSProtocol, lines[0])
	}
	if status != 101 {
		return &client.HandshakeError{Status: status, Body: string(bytes.TrimSpace(rest[:min(len(rest), 1024)]))}
	}
	sum := sha1.Sum([]byte(key + wsAcceptGUID))
	want := base64.StdEncoding.EncodeToString(sum[:])
	for _, l := range lines[1:] {
		name, val, ok := bytes.Cut(l, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Sec-WebSocket-Accept")) {
			if string(bytes.TrimSpace(val)) != want {
				return fmt.Errorf("%w: wrong Sec-WebSocket-Accept", errWSProtocol)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: no Sec-WebSocket-Accept", errWSProtocol)
}

// wsFrame is one parsed frame header.
type wsFrame struct {
	fin     bool
	op      byte
	payload []byte // a slice of the read buffer
}

// parseWSFrame parses the frame at the start of b. It returns the frame and its length in b, or
// n == 0 when b does not hold a whole frame yet (need is then the length the frame needs, when the
// header says, else 0). A server's frame must not be masked.
func parseWSFrame(b []byte) (f wsFrame, n, need int, err error) {
	if len(b) < 2 {
		return f, 0, 0, nil
	}
	f.fin = b[0]&0x80 != 0
	f.op = b[0] & 0x0f
	if b[0]&0x70 != 0 {
		return f, 0, 0, fmt.Errorf("%w: reserved bits set", errWSProtocol)
	}
	if b[1]&0x80 != 0 {
		return f, 0, 0, fmt.Errorf("%w: masked frame from the server", errWSProtocol)
	}
	hdr, size := 2, uint64(b[1]&0x7f)
	switch size {
	case 126:
		if len(b) < 4 {
			return f, 0, 0, nil
		}
		hdr, size = 4, uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return f, 0, 0, nil
		}
		hdr, size = 10, binary.BigEndian.Uint64(b[2:])
	}
	if f.op >= OpClose && (size > 125 || !f.fin) {
		return f, 0, 0, fmt.Errorf("%w: control frame of %d bytes or fragmented", errWSProtocol, size)
	}
	if size > wsMaxMessage {
		return f, 0, 0, fmt.Errorf("%w: frame of %d bytes", errWSProtocol, size)
	}
	total := hdr + int(size)
	if len(b) < total {
		return f, 0, total, nil
	}
	f.payload = b[hdr:total]
	return f, total, 0, nil
}

// ReadMessage returns the next data message (binary or text). Its bytes are valid until the next
// call. Pings are answered on the way; a close frame returns a *client.CloseError with its code,
// the end of the stream one with client.CloseAbnormal, and a read after close client.ErrClosed.
func (c *Conn) ReadMessage() ([]byte, error) {
	for {
		f, n, need, err := parseWSFrame(c.rbuf[c.r:c.w])
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if err := c.fill(need); err != nil {
				return nil, err
			}
			continue
		}
		c.r += n
		switch f.op {
		case OpPing:
			if err := c.writeFrame(OpPong, f.payload); err != nil {
				return nil, err
			}
		case OpPong:
		case OpClose:
			ce := &client.CloseError{Code: 1005}
			if len(f.payload) >= 2 {
				ce.Code = protocol.CloseCode(binary.BigEndian.Uint16(f.payload))
				ce.Message = string(f.payload[2:])
			}
			_ = c.writeFrame(OpClose, f.payload[:min(2, len(f.payload))])
			return nil, ce
		case OpText, OpBinary:
			if c.frag != nil {
				return nil, fmt.Errorf("%w: new message inside a fragmented one", errWSProtocol)
			}
			if f.fin {
				return f.payload, nil
			}
			c.frag = append(make([]byte, 0, 2*len(f.payload)), f.payload...)
		case OpContinuation:
			if c.frag == nil {
				return nil, fmt.Errorf("%w: continuation without a message", errWSProtocol)
			}
			if len(c.frag)+len(f.payload) > wsMaxMessage {
				return nil, fmt.Errorf("%w: message over %d bytes", errWSProtocol, wsMaxMessage)
			}
			c.frag = append(c.frag, f.payload...)
			if f.fin {
				m := c.frag
				c.frag = nil
				return m, nil
			}
		default:
			return nil, fmt.Errorf("%w: opcode %#x", errWSProtocol, f.op)
		}
	}
}

// fill reads more bytes: it moves the unparsed tail to the front, grows the buffer if a frame of
// need bytes does not fit, and does one read.
func (c *Conn) fill(need int) error {
	if c.r > 0 {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	if need > len(c.rbuf) {
		nb := make([]byte, max(need, 2*len(c.rbuf)))
		copy(nb, c.rbuf[:c.w])
		c.rbuf = nb
	}
	n, err := c.nc.Read(c.rbuf[c.w:])
	c.w += n
	if err != nil && n == 0 {
		c.wmu.Lock()
		closed := c.closed
		c.wmu.Unlock()
		if closed {
			return client.ErrClosed
		}
		return &client.CloseError{Code: client.CloseAbnormal, Message: err.Error()}
	}
	return nil
}

// WriteMessage writes one binary message as one frame, in one write.
func (c *Conn) WriteMessage(p []byte) error { return c.writeFrame(OpBinary, p) }

// writeFrame writes one masked frame with the FIN bit set.
func (c *Conn) writeFrame(op byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed && op != OpClose {
		return client.ErrClosed
	}
	c.wbuf = AppendFrame(c.wbuf[:0], op, p, c.nextMask())
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return fmt.Errorf("bench: write: %w", err)
	}
	return nil
}

// WriteBuilt writes a message whose payload build appends to the buffer it is given (so that a
// keystroke is encoded straight into the frame), as one binary frame.
func (c *Conn) WriteBuilt(build func([]byte) []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return client.ErrClosed
	}
	// The payload is built after room for the largest header, and the header is written just
	// before it: no copy of the payload.
	const room = wsMaxHeader
	b := build(append(c.wbuf[:0], make([]byte, room)...))
	p := b[room:]
	start := room - wsHeaderLen(len(p))
	key := c.nextMask()
	putWSHeader(b[start:], OpBinary, len(p), key)
	maskBytes(p, key)
	c.wbuf = b
	if _, err := c.nc.Write(b[start:]); err != nil {
		return fmt.Errorf("bench: write: %w", err)
	}
	return nil
}

// nextMask returns the next masking key (xorshift64: RFC 6455 asks for unpredictable keys against
// cache poisoning by proxies, which has no object on a loopback benchmark; a varying key keeps the
// server's unmasking honest).
func (c *Conn) nextMask() [4]byte {
	x := c.maskRNG
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	c.maskRNG = x
	var k [4]byte
	binary.LittleEndian.PutUint32(k[:], uint32(x>>16))
	return k
}

// wsMaxHeader is the longest client frame header: 2 bytes, an 8-byte length, a 4-byte key.
const wsMaxHeader = 14

// wsHeaderLen returns the length of a masked client frame header for a payload of n bytes.
func wsHeaderLen(n int) int {
	switch {
	case n < 126:
		return 6
	case n <= 0xffff:
		return 8
	}
	return 14
}

// putWSHeader writes into h (at least wsHeaderLen(n) bytes) the header of a masked client frame
// with FIN set: opcode, payload length n, masking key.
func putWSHeader(h []byte, op byte, n int, key [4]byte) {
	h[0] = 0x80 | op
	i := 2
	switch {
	case n < 126:
		h[1] = 0x80 | byte(n)
	case n <= 0xffff:
		h[1] = 0x80 | 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
		i = 4
	default:
		h[1] = 0x80 | 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
		i = 10
	}
	copy(h[i:i+4], key[:])
}

// AppendFrame appends a masked client frame holding p to dst.
func AppendFrame(dst []byte, op byte, p []byte, key [4]byte) []byte {
	hl := wsHeaderLen(len(p))
	start := len(dst)
	dst = append(dst, make([]byte, hl)...)
	putWSHeader(dst[start:], op, len(p), key)
	dst = append(dst, p...)
	maskBytes(dst[start+hl:], key)
	return dst
}

// maskBytes XORs b with the repeated key.
func maskBytes(b []byte, key [4]byte) {
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// NetConn returns the connection's socket, for a caller that writes raw bytes past the framing
// (the partial-frame mode sends an unfinished frame and holds it).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close sends a close frame (1000) and closes the socket; the reader then returns
// client.ErrClosed. It is idempotent.
func (c *Conn) Close() {
	c.wmu.Lock()
	if !c.closed {
		c.closed = true
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		c.wbuf = AppendFrame(c.wbuf[:0], OpClose, []byte{0x03, 0xe8}, c.nextMask())
		_, _ = c.nc.Write(c.wbuf)
	}
	c.wmu.Unlock()
	c.nc.Close()
}
