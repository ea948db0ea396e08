package wsframe

import (
	"io"
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
