package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
)

// benchRoot is the Text root the bench types into.
const benchRoot = "body"

// dialSpec describes one client to open.
type dialSpec struct {
	doc  string
	opts client.Options
}

// failureCounts counts connection failures and closes by reason ("http 503", "close 1013",
// "timeout"...), for the JSON result.
type failureCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func (f *failureCounts) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]int{}
	}
	f.m[failureKind(err)]++
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

// dialAll opens the clients, at most concurrency at a time, and returns them in the order of
// specs (nil where the connection failed) with the failures counted.
func dialAll(ctx context.Context, url string, specs []dialSpec, concurrency int, fails *failureCounts) []*client.Conn {
	conns := make([]*client.Conn, len(specs))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(concurrency, len(specs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				c, err := client.Dial(dctx, url, specs[i].doc, specs[i].opts)
				cancel()
				if err != nil {
					fails.add(err)
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range specs {
		select {
		case work <- i:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return conns
}

// closeAll closes the clients in parallel.
func closeAll(conns []*client.Conn) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			c.Close()
			<-sem
		}()
	}
	wg.Wait()
}

// closedDuring counts the clients that ended (closed by the server) and their reasons.
func closedDuring(conns []*client.Conn) (int, map[string]int) {
	var f failureCounts
	for _, c := range conns {
		if c == nil {
			continue
		}
		select {
		case <-c.Done():
			f.add(c.Err())
		default:
		}
	}
	return f.total(), f.snapshot()
}

// randomClientIDs draws n distinct client IDs in [1, 2^53).
func randomClientIDs(n int) []uint64 {
	seen := make(map[uint64]bool, n)
	out := make([]uint64, 0, n)
	for len(out) < n {
		id := rand.Uint64N(crdt.MaxClientID) + 1
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
