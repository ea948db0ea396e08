package wsframe

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame reads arbitrary bytes as a client's frames, whole and in small reads: the Reader
// must never panic, never return a message over the limit, fail only with the errors it
// documents, and give back every chunk of its budget once reset.
func FuzzReadFrame(f *testing.F) {
	f.Add(bin("hello").bytes(), false)
	f.Add(join(cframe{op: OpText, payload: []byte("κό")}, cframe{fin: true, op: OpPing, payload: []byte("p")}, cframe{fin: true, op: OpContinuation, payload: []byte("σμε")}), false)
	f.Add(cframe{fin: true, op: OpClose, payload: ClosePayload(1000, "bye")}.bytes(), false)
	f.Add(cframe{fin: true, rsv: 4, op: OpBinary, payload: []byte{0x4a, 0x4c, 0x04, 0x00}}.bytes(), true)
	f.Add(append([]byte{0x82, 0x80 | 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, testKey[:]...), false)
	f.Add([]byte{0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4}, false)
	f.Fuzz(func(t *testing.T, in []byte, deflate bool) {
		const limit = 4096
		for _, chop := range []int{1 << 20, 5} {
			budget := NewBudget(4 * msgChunkBytes)
			cfg := Config{MaxMessageBytes: limit, Deflate: deflate, CheckUTF8: true, Buffers: NewBufferPool(64), Budget: budget}
			r := NewReader(&chopReader{b: bytes.Clone(in), n: chop}, &cfg)
			for i := 0; ; i++ {
				fr, err := r.Next()
				if err != nil {
					var e *Error
					switch {
					case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, ErrInflatedTooBig):
					case errors.As(err, &e):
						if e.Code != CloseProtocolError && e.Code != CloseInvalidData && e.Code != CloseMessageTooBig {
							t.Fatalf("error %v with close code %d", err, e.Code)
						}
					default:
						t.Fatalf("unexpected error %v", err)
					}
					if !errors.Is(err, ErrInflatedTooBig) {
						break
					}
					continue
				}
				if len(fr.Payload) > limit {
					t.Fatalf("frame %d: %d bytes; want at most %d", i, len(fr.Payload), limit)
				}
				if fr.Op.IsControl() && len(fr.Payload) > MaxControlPayload {
					t.Fatalf("frame %d: %s of %d bytes", i, fr.Op, len(fr.Payload))
				}
			}
			r.Reset(nil, &cfg)
			if budget.Used() != 0 {
				t.Fatalf("budget holds %d bytes after the Reader was reset; want 0", budget.Used())
			}
		}
	})
}
