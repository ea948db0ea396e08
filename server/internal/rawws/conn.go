package rawws

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Opcodes (RFC 6455 section 5.2). Values 3-7 and 11-15 are reserved; tests send them on purpose.
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// Sentinel errors.
var (
	// ErrHandshake reports an opening handshake that did not end in a valid 101 answer.
	ErrHandshake = errors.New("rawws: handshake failed")
	// ErrFrameTooLarge reports a frame from the server longer than the read limit.
	ErrFrameTooLarge = errors.New("rawws: frame exceeds read limit")
	// ErrMaskedServerFrame reports a frame from the server with the mask bit set (RFC 6455 5.1).
	ErrMaskedServerFrame = errors.New("rawws: masked frame from server")
)

// websocketGUID is the constant of RFC 6455 section 1.3 that the accept key is derived from.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Header is the first part of a frame: everything but the payload. Length is written as declared,
// whatever payload follows, so a test can declare 2^63-1 bytes and send none.
type Header struct {
	Fin    bool
	RSV    byte // the three reserved bits, 0-7 (RSV1 is 4, RSV2 is 2, RSV3 is 1)
	Opcode byte // 0-15
	Length uint64
}

// Frame is one WebSocket frame.
type Frame struct {
	Fin     bool
	RSV     byte
	Opcode  byte
	Payload []byte
}

// IsControl reports whether the frame's opcode is a control opcode (8-15).
func (f Frame) IsControl() bool { return f.Opcode >= 0x8 }

// CloseCode returns the status code of a close frame and its reason. A close frame without a
// payload has no code: ok is false. A payload of one byte is malformed: ok is false as well.
func (f Frame) CloseCode() (code uint16, reason string, ok bool) {
	if f.Opcode != OpClose || len(f.Payload) < 2 {
		return 0, "", false
	}
	return binary.BigEndian.Uint16(f.Payload), string(f.Payload[2:]), true
}

// String describes the frame for test failure messages.
func (f Frame) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "frame{fin=%t rsv=%d op=%d len=%d", f.Fin, f.RSV, f.Opcode, len(f.Payload))
	if code, reason, ok := f.CloseCode(); ok {
		fmt.Fprintf(&b, " close=%d %q", code, reason)
	}
	b.WriteString("}")
	return b.String()
}

// AppendHeader appends a client frame header with the mask bit set and the given mask key.
func AppendHeader(dst []byte, h Header, mask [4]byte) []byte {
	b0 := h.Opcode & 0x0f
	b0 |= (h.RSV & 0x7) << 4
	if h.Fin {
		b0 |= 0x80
	}
	dst = append(dst, b0)
	switch {
	case h.Length <= 125:
		dst = append(dst, 0x80|byte(h.Length))
	case h.Length <= 0xffff:
		dst = append(dst, 0x80|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(h.Length))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, h.Length)
	}
	return append(dst, mask[:]...)
}

// AppendFrame appends f as a masked client frame, with a random mask key.
func AppendFrame(dst []byte, f Frame) []byte {
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	dst = AppendHeader(dst, Header{Fin: f.Fin, RSV: f.RSV, Opcode: f.Opcode, Length: uint64(len(f.Payload))}, mask)
	start := len(dst)
	dst = append(dst, f.Payload...)
	for i := range f.Payload {
		dst[start+i] ^= mask[i&3]
	}
	return dst
}

// ClosePayload returns the payload of a close frame: the code in two bytes, then the reason.
func ClosePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// Conn is a client connection after a successful opening handshake.
type Conn struct {
	nc        net.Conn
	br        *bufio.Reader
	readLimit uint64
	// Response is the server's handshake answer (its body is empty and closed).
	Response *http.Response
}

// DefaultReadLimit is the longest frame a Conn reads unless SetReadLimit says otherwise.
const DefaultReadLimit = 16 << 20

// Dial opens a TCP connection to addr (host:port) and performs the opening handshake for path
// (which may carry a query). hdr adds request headers (Origin, Authorization,
// Sec-WebSocket-Extensions...). A non-101 answer returns ErrHandshake wrapped with the status,
// together with the response so that the test can look at it.
func Dial(ctx context.Context, addr, path string, hdr http.Header) (*Conn, *http.Response, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("rawws: dial %s: %w", addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(deadline)
	} else {
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	}
	var keyBytes [16]byte
	_, _ = rand.Read(keyBytes[:])
	key := base64.StdEncoding.EncodeToString(keyBytes[:])

	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, addr)
	fmt.Fprintf(&req, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	for k, vs := range hdr {
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", k, v)
		}
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(nc, req.String()); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("rawws: write handshake: %w", err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("rawws: read handshake answer: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		nc.Close()
		return nil, resp, fmt.Errorf("%w: status %d: %s", ErrHandshake, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), AcceptKey(key); got != want {
		nc.Close()
		return nil, resp, fmt.Errorf("%w: Sec-WebSocket-Accept %q, want %q", ErrHandshake, got, want)
	}
	_ = nc.SetDeadline(time.Time{})
	return &Conn{nc: nc, br: br, readLimit: DefaultReadLimit, Response: resp}, resp, nil
}

// AcceptKey returns the Sec-WebSocket-Accept value a server must answer to key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// SetReadLimit sets the longest frame payload ReadFrame accepts.
func (c *Conn) SetReadLimit(n uint64) { c.readLimit = n }

// NetConn returns the underlying TCP connection (for half-closes and deadlines).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the TCP connection without a closing handshake.
func (c *Conn) Close() error { return c.nc.Close() }

// Write writes raw bytes: frames built with AppendFrame or AppendHeader, or anything else.
func (c *Conn) Write(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.nc.Write(b)
	if err != nil {
		return fmt.Errorf("rawws: write: %w", err)
	}
	return nil
}

// WriteFrame writes f as one masked frame.
func (c *Conn) WriteFrame(f Frame) error { return c.Write(AppendFrame(nil, f)) }

// WriteChopped writes b in pieces of at most chunk bytes, pausing between pieces, so that the
// server sees a frame (or several) arrive across many TCP reads.
func (c *Conn) WriteChopped(b []byte, chunk int, pause time.Duration) error {
	if chunk < 1 {
		chunk = 1
	}
	for len(b) > 0 {
		n := min(chunk, len(b))
		if err := c.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
		if len(b) > 0 && pause > 0 {
			time.Sleep(pause)
		}
	}
	return nil
}

// ReadFrame reads the next frame from the server, waiting at most timeout. A TCP close returns
// io.EOF (or an error wrapping it); an expired timeout returns an error for which
// IsTimeout reports true.
func (c *Conn) ReadFrame(timeout time.Duration) (Frame, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	var hdr [2]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Fin: hdr[0]&0x80 != 0, RSV: (hdr[0] >> 4) & 0x7, Opcode: hdr[0] & 0x0f}
	if hdr[1]&0x80 != 0 {
		return f, ErrMaskedServerFrame
	}
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(c.br, ext[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(c.br, ext[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if n > c.readLimit {
		return f, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, f.Payload); err != nil {
		return f, err
	}
	return f, nil
}

// IsTimeout reports whether err is a read or write deadline expiry.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Outcome is what happened after a test's frames were sent, as observed by ReadUntilClose.
type Outcome struct {
	// Frames are the data and control frames received before the close frame (pings from the
	// server included), in order.
	Frames []Frame
	// Closed reports that a close frame arrived; Code and Reason are its content, HasCode is false
	// for a close frame without a payload.
	Closed  bool
	HasCode bool
	Code    uint16
	Reason  string
	// EOF reports that the server ended the TCP connection (after its close frame or without one).
	EOF bool
	// Elapsed is the time from the start of ReadUntilClose to the close frame, or to EOF without
	// one, or to the timeout.
	Elapsed time.Duration
	// Err is a read error other than EOF and timeout.
	Err error
}

// ReadUntilClose reads frames until a close frame arrives, the server ends the connection, or
// timeout passes. After a close frame it answers with the same code (completing the closing
// handshake, as a client should) and waits briefly for the server to end the TCP connection.
func (c *Conn) ReadUntilClose(timeout time.Duration) Outcome {
	var o Outcome
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			o.Elapsed = time.Since(start)
			return o
		}
		f, err := c.ReadFrame(left)
		if err != nil {
			o.Elapsed = time.Since(start)
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), isReset(err):
				o.EOF = true
			case IsTimeout(err):
			default:
				o.Err = err
			}
			return o
		}
		if f.Opcode != OpClose {
			o.Frames = append(o.Frames, f)
			continue
		}
		o.Elapsed = time.Since(start)
		o.Closed = true
		o.Code, o.Reason, o.HasCode = f.CloseCode()
		if o.HasCode {
			_ = c.WriteFrame(Frame{Fin: true, Opcode: OpClose, Payload: ClosePayload(o.Code, "")})
		} else {
			_ = c.WriteFrame(Frame{Fin: true, Opcode: OpClose})
		}
		_, err = c.ReadFrame(time.Second)
		o.EOF = err != nil && !IsTimeout(err)
		return o
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout() && oe.Op == "read"
}

// RoundTrip sends raw bytes (a hand-written HTTP request, well-formed or not) to addr and reads
// one HTTP response, for handshake tests that must send what net/http would refuse to. The
// response body is read in full (up to 64 KiB) and the connection closed.
func RoundTrip(ctx context.Context, addr, raw string) (*http.Response, []byte, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("rawws: dial %s: %w", addr, err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, raw); err != nil {
		return nil, nil, fmt.Errorf("rawws: write request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("rawws: read response: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp, body, nil
}
