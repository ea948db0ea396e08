package wsframe

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// cframe returns a client frame: masked with a fixed key unless unmasked, with the length encoded
// in the shortest form unless lenBytes forces 2 (16-bit) or 8 (64-bit) extension bytes.
type cframe struct {
	fin      bool
	rsv      byte // the three reserved bits, as 0-7
	op       Opcode
	payload  []byte
	unmasked bool
	lenBytes int
}

var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

func (f cframe) bytes() []byte {
	b0 := byte(f.op) | f.rsv<<4
	if f.fin {
		b0 |= 0x80
	}
	var mbit byte = 0x80
	if f.unmasked {
		mbit = 0
	}
	n := len(f.payload)
	out := []byte{b0}
	switch {
	case f.lenBytes == 8 || f.lenBytes == 0 && n > 0xffff:
		out = append(out, mbit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	case f.lenBytes == 2 || f.lenBytes == 0 && n > 125:
		out = append(out, mbit|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, mbit|byte(n))
	}
	if f.unmasked {
		return append(out, f.payload...)
	}
	out = append(out, testKey[:]...)
	for i, c := range f.payload {
		out = append(out, c^testKey[i&3])
	}
	return out
}

func join(fs ...cframe) []byte {
	var b []byte
	for _, f := range fs {
		b = append(b, f.bytes()...)
	}
	return b
}

func bin(p string) cframe { return cframe{fin: true, op: OpBinary, payload: []byte(p)} }

// deflated returns p compressed as a permessage-deflate payload (RFC 7692: the final 00 00 ff ff
// removed).
func deflated(t testing.TB, p []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// chopReader returns its bytes at most n at a time, as a socket might.
type chopReader struct {
	b []byte
	n int
}

func (c *chopReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}

// readAll reads frames until an error and returns them with the error.
func readAll(src io.Reader, cfg Config) ([]Frame, error) {
	r := NewReader(src, &cfg)
	defer r.Reset(nil, nil) // gives back what it borrowed, from cfg.Budget too
	var out []Frame
	for {
		f, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
}

func TestNext(t *testing.T) {
	big := bytes.Repeat([]byte("abcdefg"), 20000) // 140,000 bytes: 64-bit length
	mid := bytes.Repeat([]byte{0xfe}, 300)        // 16-bit length
	text := "κόσμε, héllo"
	tests := []struct {
		name    string
		cfg     Config
		in      []byte
		want    []Frame
		wantErr error  // matched with errors.Is; nil means io.EOF after want
		code    uint16 // the *Error's close code, when wantErr is one
	}{
		{name: "empty binary", in: bin("").bytes(), want: []Frame{{OpBinary, []byte{}}}},
		{name: "7-bit length", in: bin("hello").bytes(), want: []Frame{{OpBinary, []byte("hello")}}},
		{name: "125 bytes", in: bin(strings.Repeat("x", 125)).bytes(), want: []Frame{{OpBinary, []byte(strings.Repeat("x", 125))}}},
		{name: "16-bit length", in: cframe{fin: true, op: OpBinary, payload: mid}.bytes(), want: []Frame{{OpBinary, mid}}},
		{name: "64-bit length", in: cframe{fin: true, op: OpBinary, payload: big}.bytes(), want: []Frame{{OpBinary, big}}},
		{name: "text", in: cframe{fin: true, op: OpText, payload: []byte(text)}.bytes(), cfg: Config{CheckUTF8: true}, want: []Frame{{OpText, []byte(text)}}},
		{name: "several messages", in: join(bin("a"), bin("bc"), cframe{fin: true, op: OpPing, payload: []byte("p")}, bin("d")),
			want: []Frame{{OpBinary, []byte("a")}, {OpBinary, []byte("bc")}, {OpPing, []byte("p")}, {OpBinary, []byte("d")}}},
		{name: "fragments", in: join(cframe{op: OpBinary, payload: []byte("frag1")}, cframe{op: OpContinuation, payload: []byte("frag2")}, cframe{fin: true, op: OpContinuation, payload: []byte("frag3")}),
			want: []Frame{{OpBinary, []byte("frag1frag2frag3")}}},
		{name: "empty fragments", in: join(cframe{op: OpBinary}, cframe{fin: true, op: OpContinuation, payload: []byte("x")}),
			want: []Frame{{OpBinary, []byte("x")}}},
		{name: "control frames between fragments", in: join(cframe{op: OpText, payload: []byte("f1")}, cframe{fin: true, op: OpPing, payload: []byte("p1")}, cframe{fin: true, op: OpPong}, cframe{fin: true, op: OpContinuation, payload: []byte("f2")}),
			want: []Frame{{OpPing, []byte("p1")}, {OpPong, []byte{}}, {OpText, []byte("f1f2")}}},
		{name: "fragments past a chunk", in: join(cframe{op: OpBinary, payload: big[:70000]}, cframe{fin: true, op: OpContinuation, payload: big[70000:]}),
			want: []Frame{{OpBinary, big}}},
		{name: "text cut inside a rune", cfg: Config{CheckUTF8: true}, in: join(cframe{op: OpText, payload: []byte(text)[:1]}, cframe{op: OpContinuation, payload: []byte(text)[1:2]}, cframe{fin: true, op: OpContinuation, payload: []byte(text)[2:]}),
			want: []Frame{{OpText, []byte(text)}}},
		{name: "ping 125", in: cframe{fin: true, op: OpPing, payload: bytes.Repeat([]byte{1}, 125)}.bytes(), want: []Frame{{OpPing, bytes.Repeat([]byte{1}, 125)}}},
		{name: "close empty", in: cframe{fin: true, op: OpClose}.bytes(), want: []Frame{{OpClose, []byte{}}}},
		{name: "close with code and reason", in: cframe{fin: true, op: OpClose, payload: ClosePayload(1001, "bye")}.bytes(), want: []Frame{{OpClose, ClosePayload(1001, "bye")}}},
		{name: "close 4999", in: cframe{fin: true, op: OpClose, payload: ClosePayload(4999, "")}.bytes(), want: []Frame{{OpClose, ClosePayload(4999, "")}}},
		{name: "at the limit", cfg: Config{MaxMessageBytes: 10}, in: bin("0123456789").bytes(), want: []Frame{{OpBinary, []byte("0123456789")}}},
		{name: "fragments at the limit", cfg: Config{MaxMessageBytes: 10}, in: join(cframe{op: OpBinary, payload: []byte("01234")}, cframe{fin: true, op: OpContinuation, payload: []byte("56789")}), want: []Frame{{OpBinary, []byte("0123456789")}}},
		{name: "compressed", cfg: Config{Deflate: true}, in: cframe{fin: true, rsv: 4, op: OpBinary, payload: deflated(t, big)}.bytes(), want: []Frame{{OpBinary, big}}},
		{name: "compressed in fragments", cfg: Config{Deflate: true}, in: func() []byte {
			d := deflated(t, []byte("hello, hello, hello"))
			return join(cframe{rsv: 4, op: OpBinary, payload: d[:3]}, cframe{fin: true, op: OpContinuation, payload: d[3:]})
		}(), want: []Frame{{OpBinary, []byte("hello, hello, hello")}}},
		{name: "uncompressed with deflate negotiated", cfg: Config{Deflate: true}, in: bin("plain").bytes(), want: []Frame{{OpBinary, []byte("plain")}}},

		// Refusals.
		{name: "unmasked", in: cframe{fin: true, op: OpBinary, payload: []byte("x"), unmasked: true}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "RSV1 without deflate", in: cframe{fin: true, rsv: 4, op: OpBinary}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "RSV2", cfg: Config{Deflate: true}, in: cframe{fin: true, rsv: 2, op: OpBinary}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "RSV3", in: cframe{fin: true, rsv: 1, op: OpBinary}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "RSV1 on a ping", cfg: Config{Deflate: true}, in: cframe{fin: true, rsv: 4, op: OpPing}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "RSV1 on a continuation", cfg: Config{Deflate: true}, in: join(cframe{rsv: 4, op: OpBinary, payload: []byte{1}}, cframe{fin: true, rsv: 4, op: OpContinuation}), wantErr: ErrProtocol, code: 1002},
		{name: "RSV after a good message", in: join(bin("ok"), cframe{fin: true, rsv: 2, op: OpBinary}), want: []Frame{{OpBinary, []byte("ok")}}, wantErr: ErrProtocol, code: 1002},
		{name: "opcode 3", in: cframe{fin: true, op: 3}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "opcode 7", in: cframe{fin: true, op: 7}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "opcode 11", in: cframe{fin: true, op: 11}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "opcode 15", in: cframe{fin: true, op: 15}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "ping 126", in: cframe{fin: true, op: OpPing, payload: make([]byte, 126)}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "fragmented ping", in: cframe{op: OpPing}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "fragmented pong", in: cframe{op: OpPong}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "fragmented close", in: cframe{op: OpClose}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "lone continuation", in: cframe{fin: true, op: OpContinuation, payload: []byte("x")}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "lone continuation, not final", in: cframe{op: OpContinuation}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "new message inside a fragmented one", in: join(cframe{op: OpBinary, payload: []byte("a")}, bin("b")), wantErr: ErrProtocol, code: 1002},
		{name: "close of 1 byte", in: cframe{fin: true, op: OpClose, payload: []byte{3}}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "close 1005", in: cframe{fin: true, op: OpClose, payload: []byte{0x03, 0xed}}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "close 999", in: cframe{fin: true, op: OpClose, payload: []byte{3, 231}}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "close 5000", in: cframe{fin: true, op: OpClose, payload: ClosePayload(5000, "")}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "close reason not UTF-8", in: cframe{fin: true, op: OpClose, payload: append(ClosePayload(1000, ""), 0xed, 0xa0, 0x80)}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "non-minimal 16-bit length", in: cframe{fin: true, op: OpBinary, payload: []byte("hi"), lenBytes: 2}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "non-minimal 16-bit length of 125", in: cframe{fin: true, op: OpBinary, payload: make([]byte, 125), lenBytes: 2}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "non-minimal 64-bit length", in: cframe{fin: true, op: OpBinary, payload: []byte("hi"), lenBytes: 8}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "64-bit length of a 16-bit one", in: cframe{fin: true, op: OpBinary, payload: mid, lenBytes: 8}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "non-minimal length on a continuation", in: join(cframe{op: OpBinary, payload: []byte("a")}, cframe{fin: true, op: OpContinuation, payload: []byte("b"), lenBytes: 2}), wantErr: ErrProtocol, code: 1002},
		{name: "non-minimal length on a ping", in: cframe{fin: true, op: OpPing, payload: []byte("p"), lenBytes: 2}.bytes(), wantErr: ErrProtocol, code: 1002},
		{name: "text refused", cfg: Config{RefuseText: true}, in: cframe{fin: true, op: OpText, payload: []byte("hi")}.bytes(), wantErr: ErrUnsupported, code: 1003},
		{name: "text refused at its first fragment, without an end", cfg: Config{RefuseText: true}, in: cframe{op: OpText, payload: []byte{0xff, 0xfe}}.bytes(), wantErr: ErrUnsupported, code: 1003},
		{name: "compressed text refused", cfg: Config{RefuseText: true, Deflate: true}, in: cframe{fin: true, rsv: 4, op: OpText, payload: deflated(t, []byte("hi"))}.bytes(), wantErr: ErrUnsupported, code: 1003},
		{name: "binary with text refused", cfg: Config{RefuseText: true}, in: bin("ok").bytes(), want: []Frame{{OpBinary, []byte("ok")}}},
		{name: "within the budget", cfg: Config{Budget: NewBudget(2 * msgChunkBytes)}, in: join(cframe{fin: true, op: OpBinary, payload: big[:2*msgChunkBytes]}, bin("after")),
			want: []Frame{{OpBinary, big[:2*msgChunkBytes]}, {OpBinary, []byte("after")}}},
		{name: "over the budget", cfg: Config{Budget: NewBudget(2 * msgChunkBytes)}, in: cframe{fin: true, op: OpBinary, payload: big[:2*msgChunkBytes+1]}.bytes(), wantErr: ErrOverBudget, code: 1013},
		{name: "fragments over the budget", cfg: Config{Budget: NewBudget(msgChunkBytes)}, in: join(cframe{op: OpBinary, payload: big[:msgChunkBytes]}, cframe{fin: true, op: OpContinuation, payload: []byte("x")}), wantErr: ErrOverBudget, code: 1013},
		{name: "length MSB set", in: append([]byte{0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, testKey[:]...), wantErr: ErrProtocol, code: 1002},
		{name: "over the limit", cfg: Config{MaxMessageBytes: 10}, in: bin("0123456789a").bytes(), wantErr: ErrTooBig, code: 1009},
		{name: "header over the limit, no payload", cfg: Config{MaxMessageBytes: 1 << 10}, in: append([]byte{0x82, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0}, testKey[:]...), wantErr: ErrTooBig, code: 1009},
		{name: "fragments over the limit", cfg: Config{MaxMessageBytes: 10}, in: join(cframe{op: OpBinary, payload: []byte("012345")}, cframe{fin: true, op: OpContinuation, payload: []byte("6789a")}), wantErr: ErrTooBig, code: 1009},
		{name: "text not UTF-8", cfg: Config{CheckUTF8: true}, in: cframe{fin: true, op: OpText, payload: []byte{0xce, 0xba, 0xed, 0xa0, 0x80}}.bytes(), wantErr: ErrInvalidData, code: 1007},
		{name: "text fragment not UTF-8", cfg: Config{CheckUTF8: true}, in: join(cframe{op: OpText, payload: []byte("κόσμε")}, cframe{op: OpContinuation, payload: []byte{0xf4, 0x90, 0x80, 0x80}}), wantErr: ErrInvalidData, code: 1007},
		{name: "text ending inside a rune", cfg: Config{CheckUTF8: true}, in: join(cframe{op: OpText, payload: []byte("a")}, cframe{fin: true, op: OpContinuation, payload: []byte{0xce}}), wantErr: ErrInvalidData, code: 1007},
		{name: "text not checked", in: cframe{fin: true, op: OpText, payload: []byte{0xff}}.bytes(), want: []Frame{{OpText, []byte{0xff}}}},
		{name: "compressed garbage", cfg: Config{Deflate: true}, in: cframe{fin: true, rsv: 4, op: OpBinary, payload: []byte{0xff, 0xff, 0xff}}.bytes(), wantErr: ErrInvalidData, code: 1007},
		{name: "inflates past the limit", cfg: Config{Deflate: true, MaxMessageBytes: 1000}, in: join(cframe{fin: true, rsv: 4, op: OpBinary, payload: deflated(t, make([]byte, 5000))}, bin("after")),
			wantErr: ErrInflatedTooBig},
		{name: "truncated header", in: []byte{0x82}, wantErr: io.ErrUnexpectedEOF},
		{name: "truncated payload", in: bin("hello").bytes()[:8], wantErr: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for _, chop := range []int{1, 3, 1 << 20} {
			got, err := readAll(&chopReader{b: tt.in, n: chop}, tt.cfg)
			if !framesEqual(got, tt.want) {
				t.Errorf("%s (reads of %d): frames %v; want %v", tt.name, chop, brief(got), brief(tt.want))
			}
			wantErr := tt.wantErr
			if wantErr == nil {
				wantErr = io.EOF
			}
			if !errors.Is(err, wantErr) {
				t.Errorf("%s (reads of %d): error %v; want %v", tt.name, chop, err, wantErr)
			}
			var e *Error
			if errors.As(err, &e) && e.Code != tt.code {
				t.Errorf("%s (reads of %d): close code %d; want %d", tt.name, chop, e.Code, tt.code)
			}
			if b := tt.cfg.Budget; b != nil && b.Used() != 0 {
				t.Errorf("%s (reads of %d): budget holds %d bytes after the Reader was reset; want 0", tt.name, chop, b.Used())
			}
		}
	}
}

// TestInflatedTooBigKeepsStream checks that the stream goes on after a message that inflates past
// the limit, and that a good message after it comes out whole.
func TestInflatedTooBigKeepsStream(t *testing.T) {
	in := join(cframe{fin: true, rsv: 4, op: OpBinary, payload: deflated(t, make([]byte, 5000))}, bin("after"))
	r := NewReader(bytes.NewReader(in), &Config{Deflate: true, MaxMessageBytes: 1000})
	if _, err := r.Next(); !errors.Is(err, ErrInflatedTooBig) {
		t.Fatalf("Next() error %v; want ErrInflatedTooBig", err)
	}
	f, err := r.Next()
	if err != nil || f.Op != OpBinary || string(f.Payload) != "after" {
		t.Fatalf("Next() = %v, %v; want binary %q", brief([]Frame{f}), err, "after")
	}
}

func framesEqual(a, b []Frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Op != b[i].Op || !bytes.Equal(a[i].Payload, b[i].Payload) {
			return false
		}
	}
	return true
}

func brief(fs []Frame) []string {
	var out []string
	for _, f := range fs {
		p := string(f.Payload)
		if len(p) > 20 {
			p = p[:20] + "..."
		}
		out = append(out, f.Op.String()+" "+strconvQuote(p))
	}
	return out
}

func strconvQuote(s string) string { return "\"" + strings.ToValidUTF8(s, "?") + "\"" }

// TestBufferReleased checks that a Reader with a pool holds no buffer once it has returned every
// byte it read and was released, and takes one again to read on.
func TestBufferReleased(t *testing.T) {
	pool := NewBufferPool(0)
	in := join(bin("one"), bin("two"))
	r := NewReader(bytes.NewReader(in), &Config{Buffers: pool})
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if r.Buffered() == 0 {
		t.Fatalf("Buffered() = 0 after the first of two frames read in one call; want the second")
	}
	r.Release()
	if r.buf == nil {
		t.Fatalf("Release with bytes buffered dropped them")
	}
	f, err := r.Next()
	if err != nil || string(f.Payload) != "two" {
		t.Fatalf("Next() = %v, %v; want %q", brief([]Frame{f}), err, "two")
	}
	r.Release()
	if r.buf != nil || r.Buffered() != 0 {
		t.Fatalf("after Release: buffer %v, Buffered %d; want none", r.buf != nil, r.Buffered())
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next() error %v; want io.EOF", err)
	}
}

func TestMaskAt(t *testing.T) {
	p := []byte("The quick brown fox jumps over the lazy dog")
	want := make([]byte, len(p))
	for i := range p {
		want[i] = p[i] ^ testKey[i&3]
	}
	for off := 0; off <= len(p); off++ {
		got := append([]byte{}, p...)
		maskAt(testKey, 0, got[:off])
		maskAt(testKey, off, got[off:])
		if !bytes.Equal(got, want) {
			t.Fatalf("masked in two parts at %d: % x; want % x", off, got, want)
		}
	}
}

func TestAppendHeader(t *testing.T) {
	tests := []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x82, 0}},
		{125, []byte{0x82, 125}},
		{126, []byte{0x82, 126, 0, 126}},
		{0xffff, []byte{0x82, 126, 0xff, 0xff}},
		{0x10000, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, tt := range tests {
		got := AppendHeader(nil, OpBinary, tt.n)
		if !bytes.Equal(got, tt.want) {
			t.Errorf("AppendHeader(%d) = % x; want % x", tt.n, got, tt.want)
		}
		if HeaderLen(tt.n) != len(got) {
			t.Errorf("HeaderLen(%d) = %d; want %d", tt.n, HeaderLen(tt.n), len(got))
		}
	}
}

func TestClosePayload(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	tests := []struct {
		code       uint16
		reason     string
		wantCode   uint16
		wantReason string
	}{
		{1000, "", 1000, ""},
		{4429, "slow down", 4429, "slow down"},
		{1011, long, 1011, strings.Repeat("é", 61)},
		{CloseNoStatus, "ignored", CloseNoStatus, ""},
	}
	for _, tt := range tests {
		p := ClosePayload(tt.code, tt.reason)
		if len(p) > MaxControlPayload {
			t.Errorf("ClosePayload(%d, %d bytes) is %d bytes; want at most 125", tt.code, len(tt.reason), len(p))
		}
		code, reason, err := ParseClose(p)
		if err != nil || code != tt.wantCode || reason != tt.wantReason {
			t.Errorf("ParseClose(ClosePayload(%d, %q)) = %d, %q, %v; want %d, %q", tt.code, tt.reason, code, reason, err, tt.wantCode, tt.wantReason)
		}
	}
}
