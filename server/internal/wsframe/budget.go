package wsframe

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// msgChunkBytes is the size of the chunks in which a message that does not arrive whole is put
// together: small enough that a message stalled after its first bytes holds little, large enough
// that a 1 MiB message takes 64 of them.
const msgChunkBytes = 16 << 10

// Budget bounds the memory that the messages being received hold, over every Reader that shares it
// (Config.Budget): the bytes of messages that have begun to arrive and are not whole yet, which a
// client can leave unfinished on purpose. A Reader takes that memory from the budget in chunks of
// 16 KiB as the bytes arrive (never for a length that a header merely announces), and gives it
// back once the message is whole (copied into a slice of its exact size) or the Reader is reset.
// A chunk the budget cannot lend fails the Reader with ErrOverBudget (close code 1013).
//
// On Linux the chunks are mapped from the kernel and unmapped when they are given back, so that
// memory the budget lent returns to the system as soon as it is free, whatever the collector does;
// elsewhere they come from the Go heap. Up to budgetKeepChunks chunks given back (1 MiB) are kept
// for the next messages, so that ordinary traffic maps and unmaps nothing. A Budget is safe for
// concurrent use.
type Budget struct {
	limit int64
	used  atomic.Int64
	// refused counts the chunks the budget could not lend.
	refused atomic.Uint64

	mu   sync.Mutex
	keep [][]byte // chunks given back, for the next get
}

// budgetKeepChunks is how many chunks given back a Budget keeps mapped for reuse.
const budgetKeepChunks = 64

// NewBudget returns a budget of limit bytes (at least one chunk).
func NewBudget(limit int64) *Budget {
	return &Budget{limit: max(limit, msgChunkBytes)}
}

// Limit returns the budget's bound, in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// Used returns the bytes lent now: the chunks that messages being received hold.
func (b *Budget) Used() int64 { return b.used.Load() }

// Refused returns how many times a Reader asked for a chunk that the budget could not lend.
func (b *Budget) Refused() uint64 { return b.refused.Load() }

// get lends a chunk of msgChunkBytes, or fails with ErrOverBudget.
func (b *Budget) get() ([]byte, error) {
	if b.used.Add(msgChunkBytes) > b.limit {
		b.used.Add(-msgChunkBytes)
		b.refused.Add(1)
		return nil, b.overBudget()
	}
	b.mu.Lock()
	if n := len(b.keep); n > 0 {
		c := b.keep[n-1]
		b.keep[n-1] = nil
		b.keep = b.keep[:n-1]
		b.mu.Unlock()
		return c, nil
	}
	b.mu.Unlock()
	c, err := mapChunk(msgChunkBytes)
	if err != nil {
		b.used.Add(-msgChunkBytes)
		b.refused.Add(1)
		return nil, b.overBudget()
	}
	return c, nil
}

// put takes back a chunk that get lent.
func (b *Budget) put(c []byte) {
	b.used.Add(-msgChunkBytes)
	b.mu.Lock()
	if len(b.keep) < budgetKeepChunks {
		b.keep = append(b.keep, c)
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	unmapChunk(c)
}

func (b *Budget) overBudget() *Error {
	return &Error{Code: CloseTryAgainLater, Reason: fmt.Sprintf("server busy: messages being received hold %d bytes", b.limit)}
}
