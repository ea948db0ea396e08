package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
)

// benchRoot is the Text root the bench types into.
const benchRoot = "body"

// failureCounts counts connection failures and closes by reason ("http 503", "close 1013",
// "timeout"...), for the JSON result.
type failureCounts struct {
	mu      sync.Mutex
	m       map[string]int
	example map[string]string // the first error of each kind, for the log
}

func (f *failureCounts) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m, f.example = map[string]int{}, map[string]string{}
	}
	k := failureKind(err)
	f.m[k]++
	if _, ok := f.example[k]; !ok && err != nil {
		f.example[k] = err.Error()
	}
}

// examples returns one error message per kind, sorted by kind.
func (f *failureCounts) examples() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, k := range sortedKeys(f.m) {
		out = append(out, k+": "+f.example[k])
	}
	return out
}

func (f *failureCounts) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, v := range f.m {
		n += v
	}
	return n
}

func (f *failureCounts) snapshot() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.m) == 0 {
		return nil
	}
	out := make(map[string]int, len(f.m))
	for k, v := range f.m {
		out[k] = v
	}
	return out
}

// failureKind names the reason of a failed or ended connection in a few words.
func failureKind(err error) string {
	var ce *client.CloseError
	var he *client.HandshakeError
	switch {
	case err == nil:
		return "none"
	case errors.As(err, &ce):
		return "close " + strconv.Itoa(int(ce.Code))
	case errors.As(err, &he):
		return "http " + strconv.Itoa(he.Status)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, client.ErrClosed):
		return "closed"
	}
	return "error"
}

// typist is one load-generating client, whatever the protocol: tandem's (package client) or a
// Yjs anchor's (bench_yjs.go).
type typist interface {
	// clientID is the CRDT client ID its edits carry.
	clientID() uint64
	// nextClock is the clock the next character will take.
	nextClock() uint64
	// typeChar types one character after the client's own last one.
	typeChar() error
	// renewPresence announces the client's presence state again (a newer clock).
	renewPresence() error
	// ended is closed when the connection has ended; why tells why.
	ended() <-chan struct{}
	why() error
	// received counts the messages the client has received (updates and presence).
	received() int64
	close()
}

// dialParallel opens n typists, at most concurrency at a time, and returns them in order (nil
// where the connection failed), with the failures counted.
func dialParallel(ctx context.Context, n, concurrency int, dial func(ctx context.Context, i int) (typist, error), fails *failureCounts) []typist {
	out := make([]typist, n)
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(concurrency, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				c, err := dial(dctx, i)
				cancel()
				if err != nil {
					fails.add(err)
					continue
				}
				out[i] = c
			}
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case work <- i:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return out
}

// closeAll closes the typists in parallel.
func closeAll(ts []typist) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range ts {
		if c == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			c.close()
			<-sem
		}()
	}
	wg.Wait()
}

// closedDuring counts the typists whose connection ended, by reason, and logs an example of each.
func closedDuring(e *benchEnv, ts []typist) (int, map[string]int) {
	var f failureCounts
	defer func() {
		for _, ex := range f.examples() {
			e.logf("closed during the run: %s", ex)
		}
	}()
	for _, c := range ts {
		if c == nil {
			continue
		}
		select {
		case <-c.ended():
			f.add(c.why())
		default:
		}
	}
	return f.total(), f.snapshot()
}

// tandemTypist is a typist on tandem's protocol.
type tandemTypist struct {
	c      *client.Conn
	apply  bool
	cursor *crdt.RelPos // with apply: after the client's own last character
	msgs   atomic.Int64
}

func (t *tandemTypist) received() int64 { return t.msgs.Load() }

func (t *tandemTypist) clientID() uint64       { return t.c.ClientID() }
func (t *tandemTypist) nextClock() uint64      { return t.c.Clock() }
func (t *tandemTypist) ended() <-chan struct{} { return t.c.Done() }
func (t *tandemTypist) why() error             { return t.c.Err() }
func (t *tandemTypist) close()                 { t.c.Close() }
func (t *tandemTypist) renewPresence() error   { return t.c.SetAwareness(presence(t.c.ClientID())) }

func (t *tandemTypist) typeChar() error {
	return t.c.Edit(func(d *crdt.Doc) error {
		txt := d.Text(benchRoot)
		pos := txt.Len() // an observer's replica holds only its own characters: the end is its cursor
		if t.cursor != nil {
			if p, err := d.Resolve(*t.cursor); err == nil {
				pos = p
			}
		}
		if err := txt.Insert(pos, "x"); err != nil {
			return err
		}
		if t.apply {
			if rp, err := txt.RelPos(pos+1, -1); err == nil {
				t.cursor = &rp
			}
		}
		return nil
	})
}

// yjsTypist is a typist on an anchor's protocol.
type yjsTypist struct{ *yjsConn }

func (t yjsTypist) clientID() uint64       { return t.id }
func (t yjsTypist) renewPresence() error   { return t.setPresence() }
func (t yjsTypist) ended() <-chan struct{} { return t.done }
func (t yjsTypist) why() error             { return t.Err() }
func (t yjsTypist) close()                 { t.Close() }
func (t yjsTypist) received() int64        { return t.msgs.Load() }

// dialTypist opens a client on document doc, speaking e's protocol. onRcv (may be nil) receives the
// clock ranges of each remote update, or the error that decoding it returned. The observers of the
// latency and ramp modes (tandem without apply, and the Yjs clients) are the lean ones of
// bench_tandem.go and bench_yjs.go; a tandem client that applies, or that waits for acks (durable),
// or holds an idle connection, is a client.Conn. onAck (may be nil) gets each ack's count of durable updates; only
// the tandem observers report it. base is the server's URL (one of e.urls).
func dialTypist(ctx context.Context, e *benchEnv, base, doc string, id uint64, apply bool, onRcv func([]clockRange, error), onAck func(uint64)) (typist, error) {
	switch e.o.proto {
	case "yws", "hocus":
		c, err := dialYjs(ctx, e.o.proto, base, doc, id, onRcv)
		if err != nil {
			return nil, err
		}
		return yjsTypist{c}, nil
	}
	if !apply && (e.o.mode == "latency" || e.o.mode == "ramp") {
		c, err := dialTandemPeek(ctx, base, doc, id, onRcv, onAck)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	t := &tandemTypist{apply: apply}
	var ranges []clockRange
	c, err := client.Dial(ctx, base, doc, client.Options{
		ClientID: id, Observe: !apply, HandshakeTimeout: 30 * time.Second,
		OnAwareness: func([]protocol.AwarenessEntry) { t.msgs.Add(1) },
		OnUpdate: func(u []byte) {
			t.msgs.Add(1)
			if onRcv == nil {
				return
			}
			info, err := crdt.InspectUpdate(u)
			if err != nil {
				onRcv(nil, err)
				return
			}
			ranges = ranges[:0]
			for _, r := range info.Ranges {
				ranges = append(ranges, clockRange{client: r.Client, start: r.Start, end: r.End})
			}
			onRcv(ranges, nil)
		},
	})
	if err != nil {
		return nil, err
	}
	t.c = c
	return t, nil
}

// randomClientIDs draws n distinct client IDs in [1, max].
func randomClientIDs(n int, max uint64) []uint64 {
	seen := make(map[uint64]bool, n)
	out := make([]uint64, 0, n)
	for len(out) < n {
		id := rand.Uint64N(max) + 1
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// presence is the small awareness state each bench client announces, the size of the anchors'
// {user:{name,color}}.
func presence(id uint64) []byte {
	return []byte(fmt.Sprintf(`{"user":{"name":"u%d","color":"#30bced"}}`, id))
}

// docName returns the ID of the bench's document number d.
func docName(prefix string, d int) string { return prefix + "-" + strconv.Itoa(d) }

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
