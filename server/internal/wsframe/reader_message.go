package wsframe

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"unicode/utf8"
)

// smallPayloadBytes is the largest payload read into a slice of its exact size before its bytes
// have arrived: a larger one grows in chunks from the Budget as they come.
const smallPayloadBytes = 1 << 10

// gather appends the next n bytes of the stream, unmasked with key (they start at the frame's
// offset 0), to the message being put together, and checks them as UTF-8 if check. It takes a
// chunk for them only once bytes have come to fill it.
func (r *Reader) gather(n int, key [4]byte, check bool) error {
	m := &r.frag.msg
	for off := 0; off < n; {
		span := m.tail()
		if len(span) == 0 {
			if r.Buffered() == 0 {
				if err := r.fill(1); err != nil {
					return err
				}
			}
			var err error
			if span, err = m.grow(r.budget(), r.buffers()); err != nil {
				return err
			}
		}
		span = span[:min(len(span), n-off)]
		var k int
		switch {
		case r.Buffered() > 0:
			k = copy(span, (*r.buf)[r.r:r.w])
			r.r += k
		case r.buf != nil && len(span) <= len(*r.buf)/2:
			// A small rest: through the buffer, so that the frames after it come with the same
			// system call.
			if err := r.fill(1); err != nil {
				return err
			}
			k = copy(span, (*r.buf)[r.r:r.w])
			r.r += k
		default:
			var err error
			k, err = r.read(span)
			if k == 0 {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		maskAt(key, off, span[:k])
		m.n += k
		off += k
		if check && !r.frag.utf8.write(span[:k]) {
			return &Error{Code: CloseInvalidData, Reason: "text message is not UTF-8"}
		}
	}
	return nil
}

// finishMessage returns the message gathered in r.frag, inflated if it is compressed, in a slice of
// its exact size, and clears the message state.
func (r *Reader) finishMessage(checked bool) (Frame, error) {
	op, deflate := r.msgOp, r.msgDeflate
	utf8ok := !checked || r.frag.utf8.done()
	var p []byte
	if deflate {
		var err error
		p, err = r.inflate()
		r.dropMessage()
		if err != nil {
			return Frame{}, err
		}
		utf8ok = !(op == OpText && r.checkUTF8()) || utf8.Valid(p)
	} else {
		p = r.frag.msg.bytes()
		r.dropMessage()
	}
	if !utf8ok {
		return Frame{}, &Error{Code: CloseInvalidData, Reason: "text message is not UTF-8"}
	}
	return Frame{Op: op, Payload: p}, nil
}

// deflateTail ends a permessage-deflate message for the inflater: the 00 00 ff ff that RFC 7692
// has the sender remove, then an empty final block, so that the stream ends cleanly.
var deflateTail = [...]byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// inflate inflates the message put together, holding at most MaxMessageBytes+1 bytes of its
// output (in chunks of the pool: inflating does not wait for the peer) before it gives up with
// ErrInflatedTooBig: a small message that inflates without bound costs the limit, not what it
// would inflate to.
func (r *Reader) inflate() ([]byte, error) {
	tail := deflateTail
	fr := flate.NewReader(io.MultiReader(r.frag.msg.reader(), bytes.NewReader(tail[:])))
	defer fr.Close()
	var out chunks
	defer out.reset(nil, r.buffers())
	for {
		span := out.tail()
		if len(span) == 0 {
			span, _ = out.grow(nil, r.buffers())
		}
		n, err := fr.Read(span)
		out.n += n
		if out.n > r.maxMessageBytes() {
			return nil, ErrInflatedTooBig
		}
		if err == io.EOF {
			return out.bytes(), nil
		}
		if err != nil {
			return nil, &Error{Code: CloseInvalidData, Reason: "compressed message does not inflate"}
		}
	}
}

func (r *Reader) tooBig() *Error {
	return &Error{Code: CloseMessageTooBig, Reason: fmt.Sprintf("message exceeds %d bytes", r.maxMessageBytes())}
}

// chunks gathers a message in chunks of msgChunkBytes, taken from a Budget (or, without one, a
// BufferPool) as they are needed, so that growing it never copies and holds at most one partly
// used chunk more than its size.
type chunks struct {
	list [][]byte
	n    int // bytes written; the last chunk holds n - (len(list)-1)*msgChunkBytes of them
}

// tail returns the unused part of the last chunk: empty when there is none, or it is full.
func (c *chunks) tail() []byte {
	if len(c.list) == 0 {
		return nil
	}
	return c.list[len(c.list)-1][c.n-(len(c.list)-1)*msgChunkBytes:]
}

// grow adds a chunk, from b if it is not nil (which may refuse it), else from p, and returns it.
func (c *chunks) grow(b *Budget, p *BufferPool) ([]byte, error) {
	var ch []byte
	if b != nil {
		var err error
		if ch, err = b.get(); err != nil {
			return nil, err
		}
	} else {
		ch = p.getChunk()
	}
	c.list = append(c.list, ch)
	return ch, nil
}

// bytes returns a copy of the gathered bytes, in a slice of their exact size.
func (c *chunks) bytes() []byte {
	out := make([]byte, c.n)
	off := 0
	for _, ch := range c.list {
		off += copy(out[off:], ch[:min(msgChunkBytes, c.n-off)])
	}
	return out
}

// reader returns a reader of the gathered bytes.
func (c *chunks) reader() io.Reader {
	rs := make([]io.Reader, 0, len(c.list))
	for i, ch := range c.list {
		rs = append(rs, bytes.NewReader(ch[:min(msgChunkBytes, c.n-i*msgChunkBytes)]))
	}
	return io.MultiReader(rs...)
}

// reset gives the chunks back (to b, or p without a budget: where grow took them) and empties c.
func (c *chunks) reset(b *Budget, p *BufferPool) {
	for i, ch := range c.list {
		if b != nil {
			b.put(ch)
		} else {
			p.putChunk(ch)
		}
		c.list[i] = nil
	}
	c.list, c.n = nil, 0
}

// utf8Check checks a text message for UTF-8 as its bytes come, in pieces that may cut a rune.
type utf8Check struct {
	carry [utf8.UTFMax]byte // the start of a rune cut at the end of the last piece
	n     int
}

// write checks the next piece and reports whether the message is still valid UTF-8 so far.
func (u *utf8Check) write(p []byte) bool {
	if u.n > 0 {
		// Complete the rune left over from the last piece, a byte at a time.
		for len(p) > 0 && u.n < utf8.UTFMax && !utf8.FullRune(u.carry[:u.n]) {
			u.carry[u.n] = p[0]
			u.n++
			p = p[1:]
		}
		if !utf8.FullRune(u.carry[:u.n]) {
			return true // still cut: the piece was too short to complete it
		}
		if r, size := utf8.DecodeRune(u.carry[:u.n]); r == utf8.RuneError && size <= 1 || size != u.n {
			return false
		}
		u.n = 0
	}
	// Keep a rune cut at the end for the next piece: at most 3 bytes, starting at a lead byte.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-(utf8.UTFMax-1); i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		return false
	}
	u.n = copy(u.carry[:], p[cut:])
	return true
}

// done reports whether the message ended on a whole rune.
func (u *utf8Check) done() bool { return u.n == 0 }
