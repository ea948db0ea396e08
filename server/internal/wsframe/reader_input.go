package wsframe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// header is a parsed frame header.
type header struct {
	fin  bool
	rsv1 bool
	op   Opcode
	n    uint64 // payload length
	key  [4]byte
}

// header reads and checks the next frame header. It refuses what the first two bytes show to be
// wrong before it waits for the rest.
func (r *Reader) header() (header, error) {
	if err := r.fill(2); err != nil {
		if err == io.ErrUnexpectedEOF && r.w == r.r {
			err = io.EOF
		}
		return header{}, err
	}
	b := (*r.buf)[r.r:r.w]
	h := header{fin: b[0]&0x80 != 0, rsv1: b[0]&0x40 != 0, op: Opcode(b[0] & 0x0f)}
	switch h.op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		return header{}, protocolError(fmt.Sprintf("reserved opcode %d", byte(h.op)))
	}
	if b[0]&0x30 != 0 {
		return header{}, protocolError("reserved bits set")
	}
	if h.rsv1 && (!r.deflate() || h.op.IsControl() || h.op == OpContinuation) {
		return header{}, protocolError("RSV1 set without a compressed message to start")
	}
	if b[1]&0x80 == 0 {
		return header{}, protocolError("client frame not masked")
	}
	n7 := b[1] & 0x7f
	if h.op.IsControl() {
		if !h.fin {
			return header{}, protocolError("fragmented control frame")
		}
		if n7 > MaxControlPayload {
			return header{}, protocolError("control frame payload over 125 bytes")
		}
	}
	size := 2 + 4
	switch n7 {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if err := r.fill(size); err != nil {
		return header{}, err
	}
	b = (*r.buf)[r.r : r.r+size]
	switch n7 {
	case 126:
		h.n = uint64(binary.BigEndian.Uint16(b[2:]))
		if h.n < 126 {
			// RFC 6455 section 5.2: the minimal number of bytes must be used.
			return header{}, protocolError("payload length not in its minimal encoding")
		}
	case 127:
		h.n = binary.BigEndian.Uint64(b[2:])
		if h.n>>63 != 0 {
			return header{}, protocolError("payload length with its most significant bit set")
		}
		if h.n <= 0xffff {
			return header{}, protocolError("payload length not in its minimal encoding")
		}
	default:
		h.n = uint64(n7)
	}
	copy(h.key[:], b[size-4:size])
	if !h.op.IsControl() && h.n > uint64(r.maxMessageBytes()) {
		return header{}, r.tooBig()
	}
	r.r += size
	return h, nil
}

// fill reads from the source until at least n bytes (n <= the buffer's size) are buffered. Less
// than n at the end of the source is io.ErrUnexpectedEOF.
func (r *Reader) fill(n int) error {
	if r.buf == nil {
		r.buf = r.buffers().getBuf()
	}
	if r.w-r.r >= n {
		return nil
	}
	buf := *r.buf
	if len(buf)-r.r < n {
		r.w = copy(buf, buf[r.r:r.w])
		r.r = 0
	}
	for r.w-r.r < n {
		m, err := r.read(buf[r.w:])
		r.w += m
		if r.w-r.r >= n {
			return nil
		}
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// read reads from the source once. Inside a frame (a header begun, a payload being read) or a
// fragmented message, with Config.StallTimeout, it sets the source's read deadline first, and a
// read that passes it is ErrStalled; between messages it clears a deadline it set.
func (r *Reader) read(p []byte) (int, error) {
	if r.cfg == nil || r.cfg.StallTimeout <= 0 {
		return r.src.Read(p)
	}
	ds, ok := r.src.(interface{ SetReadDeadline(time.Time) error })
	if !ok {
		return r.src.Read(p)
	}
	switch {
	case r.inFrame || r.w > r.r || r.msgOp != 0:
		_ = ds.SetReadDeadline(time.Now().Add(r.cfg.StallTimeout))
		r.deadline = true
	case r.deadline:
		_ = ds.SetReadDeadline(time.Time{})
		r.deadline = false
	}
	n, err := r.src.Read(p)
	if err != nil && r.deadline && errors.Is(err, os.ErrDeadlineExceeded) {
		err = &Error{Code: ClosePolicyViolation, Reason: fmt.Sprintf("frame stalled for %s", r.cfg.StallTimeout)}
	}
	return n, err
}

// readFull fills p with the next bytes of the stream: buffered ones first, then from the source,
// through the buffer when what is missing is small (so that the frames after it come with the
// same system call), straight into p when it is large.
func (r *Reader) readFull(p []byte) error {
	if r.buf != nil {
		k := copy(p, (*r.buf)[r.r:r.w])
		r.r += k
		p = p[k:]
	}
	if len(p) == 0 {
		return nil
	}
	if r.buf == nil {
		r.buf = r.buffers().getBuf()
	}
	if len(p) <= len(*r.buf)/2 {
		if err := r.fill(len(p)); err != nil {
			return err
		}
		r.r += copy(p, (*r.buf)[r.r:r.w])
		return nil
	}
	for len(p) > 0 {
		n, err := r.read(p)
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
		if err == io.EOF || (err == nil && n == 0) {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// payload reads a frame's payload into p and unmasks it.
func (r *Reader) payload(p []byte, key [4]byte) error {
	if err := r.readFull(p); err != nil {
		return err
	}
	maskAt(key, 0, p)
	return nil
}
