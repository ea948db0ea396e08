package wsframe

import (
	"fmt"
	"io"
	"testing"
)

// loopReader returns its bytes over and over, at most n per read, as a socket with a steady
// stream would.
type loopReader struct {
	b   []byte
	off int
	n   int
}

func (l *loopReader) Read(p []byte) (int, error) {
	k := copy(p[:min(len(p), l.n)], l.b[l.off:])
	l.off = (l.off + k) % len(l.b)
	return k, nil
}

// BenchmarkNext measures reading messages of the sizes that matter to the server: a keystroke's
// update (tens of bytes, several per read), a paste (4 KiB) and a large update (256 KiB, read
// as it arrives in 64 KiB pieces).
func BenchmarkNext(b *testing.B) {
	for _, size := range []int{30, 4 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			var stream []byte
			for len(stream) < 256<<10 {
				stream = append(stream, bin(string(make([]byte, size))).bytes()...)
			}
			// The server's configuration: a 1 KiB read buffer, and the budget of messages being
			// received.
			cfg := &Config{MaxMessageBytes: 1 << 20, Buffers: NewBufferPool(1 << 10), Budget: NewBudget(64 << 20)}
			r := NewReader(&loopReader{b: stream, n: 64 << 10}, cfg)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := r.Next(); err != nil && err != io.EOF {
					b.Fatal(err)
				}
			}
		})
	}
}
