package transport

import (
	"sync"
	"testing"
	"time"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// testConfig returns a hub's settings for tests: the server's defaults.
func testConfig() Config {
	return Config{
		SendQueueMessages: 4096,
		SendQueueBytes:    4 << 20,
		SendBufferBytes:   256 << 10,
		WriteTimeout:      10 * time.Second,
		CloseTimeout:      10 * time.Second,
		PongWait:          30 * time.Second,
		PresenceWait:      6 * time.Second,
		MaxMessageBytes:   1 << 20,
		FrameStallTimeout: 10 * time.Second,
		Partial:           wsframe.NewBudget(64 << 20),
		Handler:           newTestHandler(),
		Observer:          &countingObserver{},
	}
}

// newTestHub returns a hub for cfg, shut down when the test ends.
func newTestHub(t testing.TB, cfg Config) *Hub {
	t.Helper()
	h := New(cfg)
	t.Cleanup(func() {
		h.mu.Lock()
		closing := h.closing
		h.mu.Unlock()
		if !closing {
			h.stopKeepalive()
			h.poll.close()
		}
	})
	return h
}

// testHandler records what the transport tells the hub's handler.
type testHandler struct {
	mu       sync.Mutex
	messages [][]byte
	refused  []*protocol.Error
	ended    chan struct{} // closed when the first connection ends
	endedN   int
}

func newTestHandler() *testHandler { return &testHandler{ended: make(chan struct{})} }

func (th *testHandler) Message(_ *Conn, _ wsframe.Opcode, data []byte) {
	th.mu.Lock()
	th.messages = append(th.messages, data)
	th.mu.Unlock()
}

func (th *testHandler) ReadEnded(*Conn) {}

func (th *testHandler) Doc(*Conn) string { return "test" }

func (th *testHandler) Refused(_ *Conn, e *protocol.Error) {
	th.mu.Lock()
	th.refused = append(th.refused, e)
	th.mu.Unlock()
}

func (th *testHandler) Ended(*Conn) {
	th.mu.Lock()
	th.endedN++
	if th.endedN == 1 {
		close(th.ended)
	}
	th.mu.Unlock()
}

// countingObserver counts what the transport reports.
type countingObserver struct {
	mu       sync.Mutex
	messages uint64
	bytes    uint64
	slow     map[string]int
	refused  map[string]int
}

func (o *countingObserver) Sent(messages, bytes uint64) {
	o.mu.Lock()
	o.messages += messages
	o.bytes += bytes
	o.mu.Unlock()
}

func (o *countingObserver) Delivered(time.Duration) {}

func (o *countingObserver) SlowConsumer(cause string) {
	o.mu.Lock()
	if o.slow == nil {
		o.slow = map[string]int{}
	}
	o.slow[cause]++
	o.mu.Unlock()
}

func (o *countingObserver) Refusal(reason string) {
	o.mu.Lock()
	if o.refused == nil {
		o.refused = map[string]int{}
	}
	o.refused[reason]++
	o.mu.Unlock()
}

func (o *countingObserver) Warn(string, ...any) {}

// waitFor waits, polling, until cond holds, and fails the test past timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}
