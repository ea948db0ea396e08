package wsframe

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// Config is what a Reader needs to know about its connection.
type Config struct {
	// MaxMessageBytes bounds a message: its payloads on the wire, and its size once inflated.
	// Zero or less means 1 MiB.
	MaxMessageBytes int
	// Deflate: permessage-deflate was negotiated (with no context takeover, as gorilla's
	// Upgrader offers it), so a message's first frame may carry RSV1, meaning compressed.
	Deflate bool
	// CheckUTF8: text messages must be valid UTF-8 (1007 otherwise), checked as their fragments
	// come in. A caller that refuses text messages anyway may leave it off.
	CheckUTF8 bool
	// RefuseText: a text message is refused at its first frame (ErrUnsupported, 1003), before
	// its payload is read, by a caller that speaks binary messages only.
	RefuseText bool
	// Buffers lends the read buffer, and the chunks in which compressed messages are inflated
	// (and, without a Budget, the chunks of messages that do not arrive whole). Nil means a
	// buffer of the Reader's own, kept for its life.
	Buffers *BufferPool
	// Budget lends the chunks in which a message that does not arrive whole (a payload larger
	// than what one read brought, a fragmented or compressed message) is put together, so that
	// the messages being received by every Reader that shares it hold at most its limit. Nil
	// means no bound beyond MaxMessageBytes per Reader.
	Budget *Budget
	// StallTimeout bounds the wait for the next byte of a frame begun or of a fragmented message:
	// past it Next fails with ErrStalled (1008). It sets read deadlines on the source, which must
	// then have a SetReadDeadline method; between messages the Reader sets none (nor clears one
	// it did not set). Zero means no bound.
	StallTimeout time.Duration
}

// Frame is what Next returns: a whole data message (OpText or OpBinary, unfragmented and
// inflated) or a control frame (OpClose, whose payload ParseClose has accepted, OpPing, OpPong).
// The payload is the caller's.
type Frame struct {
	Op      Opcode
	Payload []byte
}

// DefaultBufferBytes is the size of a read buffer: a burst of small messages is read with one
// system call.
const DefaultBufferBytes = 4 << 10

// BufferPool lends read buffers to Readers while they read, so that a connection that waits holds
// none. Create one with NewBufferPool; it is safe for concurrent use.
type BufferPool struct {
	size   int
	bufs   sync.Pool // *[]byte of size bytes
	chunks sync.Pool // *[]byte of msgChunkBytes
}

// NewBufferPool returns a pool of read buffers of size bytes (at least MaxHeaderBytes; zero
// means DefaultBufferBytes).
func NewBufferPool(size int) *BufferPool {
	if size <= 0 {
		size = DefaultBufferBytes
	}
	return &BufferPool{size: max(size, MaxHeaderBytes)}
}

func (p *BufferPool) getBuf() *[]byte {
	if p == nil {
		b := make([]byte, DefaultBufferBytes)
		return &b
	}
	if b, ok := p.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, p.size)
	return &b
}

// Get lends a buffer of the pool's size (to a writer gathering frames, say); give it back with Put.
func (p *BufferPool) Get() *[]byte { return p.getBuf() }

// Put gives back a buffer that Get lent; one of another size is dropped.
func (p *BufferPool) Put(b *[]byte) {
	if p != nil && len(*b) == p.size {
		p.bufs.Put(b)
	}
}

func (p *BufferPool) getChunk() []byte {
	if p != nil {
		if b, ok := p.chunks.Get().(*[]byte); ok {
			return *b
		}
	}
	return make([]byte, msgChunkBytes)
}

func (p *BufferPool) putChunk(b []byte) {
	if p != nil {
		p.chunks.Put(&b)
	}
}

// Reader reads the frames a client sends on one connection, from the connection itself (no
// buffering layer in between). See the package comment for what it enforces.
type Reader struct {
	src io.Reader
	// cfg is the caller's, kept rather than copied so that a Reader stays small: many Readers
	// share one. Nil means the zero Config.
	cfg *Config

	buf  *[]byte // nil while nothing is buffered and the buffer was released
	r, w int     // (*buf)[r:w] is read and not yet parsed

	// The message being put together from fragments, or a compressed one: its opcode (zero when
	// there is none), whether it is compressed, and its bytes so far (nil while there are none:
	// most messages come in one frame, and a waiting Reader stays small).
	msgOp      Opcode
	msgDeflate bool
	// inFrame: a frame's payload is being read (Config.StallTimeout applies to its reads).
	inFrame bool
	// deadline: the Reader set a read deadline on the source, to clear once between messages.
	deadline bool
	frag     *fragments
}

// fragments is a message being put together: its bytes and their UTF-8 check.
type fragments struct {
	msg  chunks
	utf8 utf8Check
}

// NewReader returns a Reader of the frames that come from src, a client's side of a WebSocket
// whose handshake is done, configured by cfg (see Reset).
func NewReader(src io.Reader, cfg *Config) *Reader {
	r := &Reader{}
	r.Reset(src, cfg)
	return r
}

// Reset makes r a new Reader of src, configured by cfg, giving back what it borrowed. r keeps cfg
// (nil means the zero Config): it must not change while r uses it, and may be shared by any
// number of Readers.
func (r *Reader) Reset(src io.Reader, cfg *Config) {
	r.drop()
	*r = Reader{src: src, cfg: cfg}
}

// maxMessageBytes is the bound on a message: Config.MaxMessageBytes, or 1 MiB when it is not
// positive.
func (r *Reader) maxMessageBytes() int {
	if r.cfg == nil || r.cfg.MaxMessageBytes <= 0 {
		return 1 << 20
	}
	return r.cfg.MaxMessageBytes
}

// buffers is the pool r borrows from, nil for none.
func (r *Reader) buffers() *BufferPool {
	if r.cfg == nil {
		return nil
	}
	return r.cfg.Buffers
}

func (r *Reader) budget() *Budget {
	if r.cfg == nil {
		return nil
	}
	return r.cfg.Budget
}

func (r *Reader) deflate() bool    { return r.cfg != nil && r.cfg.Deflate }
func (r *Reader) checkUTF8() bool  { return r.cfg != nil && r.cfg.CheckUTF8 }
func (r *Reader) refuseText() bool { return r.cfg != nil && r.cfg.RefuseText }

// Buffered returns how many bytes r has read from its source and not yet returned, a part of a
// frame or whole frames. A caller that wants to know whether Next would wait checks this first,
// then its source.
func (r *Reader) Buffered() int { return r.w - r.r }

// Release gives the read buffer back to the pool when it holds nothing (Buffered is zero); the
// next read borrows one again. A caller about to wait for its peer calls it, so that a waiting
// connection holds no buffer. Without a pool, it does nothing.
func (r *Reader) Release() {
	if r.buf != nil && r.r == r.w && r.buffers() != nil {
		r.buffers().Put(r.buf)
		r.buf, r.r, r.w = nil, 0, 0
	}
}

// drop gives back everything r borrowed, whatever it holds.
func (r *Reader) drop() {
	r.r, r.w = 0, 0
	r.Release()
	r.dropMessage()
}

// dropMessage gives back the chunks of the message being put together and forgets it.
func (r *Reader) dropMessage() {
	if r.frag != nil {
		r.frag.msg.reset(r.budget(), r.buffers())
		r.frag = nil
	}
	r.msgOp, r.msgDeflate = 0, false
}

// msgLen returns the length of the message put together so far.
func (r *Reader) msgLen() int {
	if r.frag == nil {
		return 0
	}
	return r.frag.msg.n
}

// Next reads until it has a whole message or a control frame and returns it. Errors: io.EOF when
// the source ends between frames, io.ErrUnexpectedEOF inside one, the source's own errors (a
// deadline), an *Error for a violation of the protocol or of a bound (the stream is unusable
// after it), and ErrInflatedTooBig for a compressed message that inflates past the limit (the
// stream is still usable). After an error other than ErrInflatedTooBig, Next must not be called
// again.
func (r *Reader) Next() (Frame, error) {
	f, err := r.next()
	r.inFrame = false
	return f, err
}

func (r *Reader) next() (Frame, error) {
	for {
		h, err := r.header()
		if err != nil {
			return Frame{}, err
		}
		r.inFrame = true
		if h.op.IsControl() {
			p := make([]byte, h.n)
			if err := r.payload(p, h.key); err != nil {
				return Frame{}, err
			}
			if h.op == OpClose {
				if _, _, err := ParseClose(p); err != nil {
					return Frame{}, err
				}
			}
			return Frame{Op: h.op, Payload: p}, nil
		}
		if h.op == OpContinuation {
			if r.msgOp == 0 {
				return Frame{}, protocolError("continuation frame with no message to continue")
			}
		} else {
			if r.msgOp != 0 {
				return Frame{}, protocolError("new message inside a fragmented one")
			}
			if h.op == OpText && r.refuseText() {
				return Frame{}, &Error{Code: CloseUnsupportedData, Reason: "text messages are not supported"}
			}
			r.msgOp, r.msgDeflate = h.op, h.rsv1
		}
		if uint64(r.msgLen())+h.n > uint64(r.maxMessageBytes()) {
			return Frame{}, r.tooBig()
		}
		n := int(h.n)
		check := r.msgOp == OpText && r.checkUTF8() && !r.msgDeflate
		if h.fin && r.msgLen() == 0 && !r.msgDeflate && (n <= r.Buffered() || n <= smallPayloadBytes) {
			// The common case: a whole message in one frame, already read or small, into its own
			// slice. A larger one is put together in chunks as its bytes arrive (below), so that
			// what a header announces is never allocated before it comes.
			p := make([]byte, n)
			if err := r.payload(p, h.key); err != nil {
				return Frame{}, err
			}
			op := r.msgOp
			r.msgOp = 0
			if check && !utf8.Valid(p) {
				return Frame{}, &Error{Code: CloseInvalidData, Reason: "text message is not UTF-8"}
			}
			return Frame{Op: op, Payload: p}, nil
		}
		if r.frag == nil {
			r.frag = &fragments{}
		}
		if err := r.gather(n, h.key, check); err != nil {
			return Frame{}, err
		}
		if !h.fin {
			r.inFrame = false // between fragments: still inside the message (stalled)
			continue
		}
		return r.finishMessage(check)
	}
}

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
