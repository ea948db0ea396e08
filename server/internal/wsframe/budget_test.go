package wsframe

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// errBlocked stands for a read that would wait for the peer.
var errBlocked = errors.New("test: the peer sends nothing more")

// stepSource returns one step per Read (cut to the caller's buffer), then, once they are used up,
// fails like a socket whose peer sends nothing more: with os.ErrDeadlineExceeded while a read
// deadline is set (as if it had passed), else with its end error (errBlocked unless set). It
// records the deadlines set on it.
type stepSource struct {
	steps    [][]byte
	end      error
	deadline time.Time
	sets     int
}

func (s *stepSource) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		if !s.deadline.IsZero() {
			return 0, os.ErrDeadlineExceeded
		}
		if s.end != nil {
			return 0, s.end
		}
		return 0, errBlocked
	}
	n := copy(p, s.steps[0])
	if s.steps[0] = s.steps[0][n:]; len(s.steps[0]) == 0 {
		s.steps = s.steps[1:]
	}
	return n, nil
}

func (s *stepSource) SetReadDeadline(t time.Time) error {
	s.deadline = t
	if !t.IsZero() {
		s.sets++
	}
	return nil
}

// TestBudgetGrowsWithBytes checks that a message that does not arrive whole takes chunks from the
// budget as its bytes arrive, not for the length its header announces, and gives them back when
// the Reader is reset or the message is whole.
func TestBudgetGrowsWithBytes(t *testing.T) {
	const announced = 1 << 20
	payload := bytes.Repeat([]byte("p"), announced)
	whole := cframe{fin: true, op: OpBinary, payload: payload}.bytes()
	hdr := len(whole) - announced
	tests := []struct {
		sent, wantChunks int
	}{
		{0, 0},
		{1, 1},
		{100, 1},
		{msgChunkBytes, 1},
		{msgChunkBytes + 1, 2},
		{40000, 3},
		{announced - 1, announced / msgChunkBytes},
	}
	for _, tt := range tests {
		b := NewBudget(4 << 20)
		// The bytes come in reads of at most 5,000, as from a socket.
		var steps [][]byte
		in := whole[:hdr+tt.sent]
		for len(in) > 0 {
			k := min(len(in), 5000)
			steps = append(steps, in[:k])
			in = in[k:]
		}
		r := NewReader(&stepSource{steps: steps}, &Config{MaxMessageBytes: announced, Budget: b, Buffers: NewBufferPool(1024)})
		if _, err := r.Next(); !errors.Is(err, errBlocked) {
			t.Fatalf("%d bytes sent: Next() error %v; want the source's", tt.sent, err)
		}
		if got, want := b.Used(), int64(tt.wantChunks*msgChunkBytes); got != want {
			t.Errorf("%d of %d bytes sent: budget holds %d bytes; want %d", tt.sent, announced, got, want)
		}
		r.Reset(nil, nil)
		if got := b.Used(); got != 0 {
			t.Errorf("%d bytes sent, Reader reset: budget holds %d bytes; want 0", tt.sent, got)
		}
	}

	// A whole message gives its chunks back once it is copied out.
	b := NewBudget(4 << 20)
	r := NewReader(&stepSource{steps: [][]byte{whole[:3000], whole[3000:]}}, &Config{MaxMessageBytes: announced, Budget: b})
	f, err := r.Next()
	if err != nil || !bytes.Equal(f.Payload, payload) {
		t.Fatalf("Next() = %d bytes, %v; want the %d-byte message", len(f.Payload), err, announced)
	}
	if got := b.Used(); got != 0 {
		t.Errorf("after a whole message: budget holds %d bytes; want 0", got)
	}
}

// TestBudgetShared checks that Readers sharing a budget are refused (1013) once their unfinished
// messages hold it all, that the refusal is counted, and that a Reader reset makes room again.
func TestBudgetShared(t *testing.T) {
	b := NewBudget(3 * msgChunkBytes)
	part := cframe{fin: true, op: OpBinary, payload: make([]byte, 100<<10)}.bytes()[:20<<10] // two chunks' worth begun
	cfg := &Config{MaxMessageBytes: 1 << 20, Budget: b}
	r1 := NewReader(&stepSource{steps: [][]byte{part}}, cfg)
	if _, err := r1.Next(); !errors.Is(err, errBlocked) {
		t.Fatalf("first reader: Next() error %v; want the source's", err)
	}
	r2 := NewReader(&stepSource{steps: [][]byte{part}}, cfg)
	_, err := r2.Next()
	var e *Error
	if !errors.Is(err, ErrOverBudget) || !errors.As(err, &e) || e.Code != CloseTryAgainLater {
		t.Fatalf("second reader: Next() error %v; want ErrOverBudget (1013)", err)
	}
	if b.Refused() != 1 || b.Used() != 3*msgChunkBytes {
		t.Errorf("budget: refused %d, used %d; want 1, %d", b.Refused(), b.Used(), 3*msgChunkBytes)
	}
	r1.Reset(nil, nil)
	r2.Reset(nil, nil)
	if b.Used() != 0 {
		t.Errorf("readers reset: budget holds %d bytes; want 0", b.Used())
	}
	r3 := NewReader(&stepSource{steps: [][]byte{part}}, cfg)
	if _, err := r3.Next(); !errors.Is(err, errBlocked) {
		t.Errorf("after the reset: Next() error %v; want the source's", err)
	}
	r3.Reset(nil, nil)
}

// TestStallTimeout checks that a read inside a frame or a fragmented message carries a deadline
// and that passing it is ErrStalled (1008), while a read between messages carries none.
func TestStallTimeout(t *testing.T) {
	msg := bin("hello").bytes()
	big := cframe{fin: true, op: OpBinary, payload: make([]byte, 3000)}.bytes()
	tests := []struct {
		name    string
		steps   [][]byte
		frames  int   // whole messages before the error
		wantErr error // after them
	}{
		{"between messages", [][]byte{msg}, 1, io.EOF},
		{"nothing sent", nil, 0, io.EOF},
		{"inside a header", [][]byte{msg[:1]}, 0, ErrStalled},
		{"inside a header's length", [][]byte{big[:3]}, 0, ErrStalled},
		{"inside a small payload", [][]byte{msg[:len(msg)-1]}, 0, ErrStalled},
		{"inside a large payload", [][]byte{big[:2000]}, 0, ErrStalled},
		{"between fragments", [][]byte{cframe{op: OpBinary, payload: []byte("f1")}.bytes()}, 0, ErrStalled},
		{"after a message, inside the next", [][]byte{msg, big[:100]}, 1, ErrStalled},
	}
	for _, tt := range tests {
		src := &stepSource{steps: tt.steps, end: io.EOF}
		r := NewReader(src, &Config{StallTimeout: time.Hour, Buffers: NewBufferPool(1024)})
		frames := 0
		var err error
		for {
			if _, err = r.Next(); err != nil {
				break
			}
			frames++
		}
		if frames != tt.frames || !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: %d messages, then %v; want %d, then %v", tt.name, frames, err, tt.frames, tt.wantErr)
		}
		var e *Error
		if errors.As(err, &e) && e.Code != ClosePolicyViolation {
			t.Errorf("%s: close code %d; want 1008", tt.name, e.Code)
		}
		if tt.wantErr == io.EOF && !src.deadline.IsZero() {
			t.Errorf("%s: the read between messages had a deadline", tt.name)
		}
		r.Reset(nil, nil)
	}

	// Without StallTimeout no deadline is ever set.
	src := &stepSource{steps: [][]byte{msg[:3]}, end: io.EOF}
	r := NewReader(src, &Config{})
	if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) || src.sets != 0 {
		t.Errorf("no StallTimeout: Next() error %v, %d deadlines set; want io.ErrUnexpectedEOF, 0", err, src.sets)
	}
}
