package server_test

// The load that both kill harnesses run (crash_harness_test.go against one server,
// clusterkill_harness_test.go against a cluster): editors that each set a ledger key and type,
// HTTP writers whose acknowledged keys it records, and the pause that quiesces both.

import (
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
)

// editLoad runs a kill harness's load goroutines and keeps the HTTP writers' record; the harness
// embeds it. The editors' own record is in each crashClient.
type editLoad struct {
	paused atomic.Bool // while set, the load makes no edits
	stop   chan struct{}
	loadWG sync.WaitGroup
	ops    atomic.Int64 // the editors' edits made so far

	// The HTTP writers' acknowledged ledger keys, per document, and their requests in flight.
	httpMu     sync.Mutex
	httpAcked  map[string][]string
	httpBusy   atomic.Int64
	httpFailed atomic.Int64
}

func newEditLoad() editLoad {
	return editLoad{stop: make(chan struct{}), httpAcked: map[string][]string{}}
}

// every starts a load goroutine that calls fn(n), n = 0, 1, ..., perSecond times a second until
// stop; a tick while paused is skipped (and its n with it).
func (l *editLoad) every(perSecond int, fn func(n int)) {
	l.loadWG.Add(1)
	go func() {
		defer l.loadWG.Done()
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			if l.paused.Load() {
				continue
			}
			fn(n)
		}
	}()
}

// editor starts cc's load: perSecond ledger edits a second (crashClient.edit).
func (l *editLoad) editor(cc *crashClient, perSecond int, rng *rand.Rand) {
	l.every(perSecond, func(int) {
		if cc.edit(rng) {
			l.ops.Add(1)
		}
	})
}

// httpEdit makes one HTTP edit of doc that sets the ledger key key: post sends it and reports
// whether the server answered 200 (the edit is durable), and key is then acknowledged. The
// request counts as in flight meanwhile. It returns how long post took and whether it succeeded.
func (l *editLoad) httpEdit(doc, key string, post func() bool) (took time.Duration, ok bool) {
	l.httpBusy.Add(1)
	defer l.httpBusy.Add(-1)
	start := time.Now()
	if !post() {
		l.httpFailed.Add(1)
		return time.Since(start), false
	}
	took = time.Since(start)
	l.ackHTTP(doc, key)
	return took, true
}

// ackHTTP records key as acknowledged over HTTP on doc.
func (l *editLoad) ackHTTP(doc, key string) {
	l.httpMu.Lock()
	defer l.httpMu.Unlock()
	l.httpAcked[doc] = append(l.httpAcked[doc], key)
}

// addHTTPAcked appends the ledger keys acknowledged over HTTP to keys (doc -> keys) and returns
// how many it added.
func (l *editLoad) addHTTPAcked(keys map[string][]string) int {
	l.httpMu.Lock()
	defer l.httpMu.Unlock()
	n := 0
	for doc, ks := range l.httpAcked {
		keys[doc] = append(keys[doc], ks...)
		n += len(ks)
	}
	return n
}

func (l *editLoad) httpAckedCount() int {
	l.httpMu.Lock()
	defer l.httpMu.Unlock()
	n := 0
	for _, keys := range l.httpAcked {
		n += len(keys)
	}
	return n
}

// quiesce pauses the load and waits for what is in progress: an editor's edit (given two of its
// ticks at perSecond) and every HTTP edit in flight, for at most within. The caller resumes with
// paused.Store(false).
func (l *editLoad) quiesce(perSecond int, within time.Duration) error {
	l.paused.Store(true)
	time.Sleep(2 * time.Second / time.Duration(perSecond))
	for wait := time.Now().Add(within); l.httpBusy.Load() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(wait) {
			return errors.New("HTTP edits still in flight after " + within.String())
		}
	}
	return nil
}

// stopLoad ends the load and waits for its goroutines; it may be called again.
func (l *editLoad) stopLoad() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.loadWG.Wait()
}

// edit makes one ledger edit on cc.c: it sets the ledger key "<client>:<clock>" and inserts or
// deletes a little text, and records the key with the clock after the edit in cc.ops. An edit the
// client refuses counts in cc.editErr. It reports whether the edit was made.
func (cc *crashClient) edit(rng *rand.Rand) bool {
	key := strconv.FormatUint(cc.c.ClientID(), 10) + ":" + strconv.FormatUint(cc.c.Clock(), 10)
	err := cc.c.Edit(func(d *crdt.Doc) error {
		if err := d.Map(ledgerRoot).Set(key, json.RawMessage("1")); err != nil {
			return err
		}
		t := d.Text(textRoot)
		if n := t.Len(); n > 0 && rng.IntN(10) < 3 {
			return t.Delete(rng.IntN(n), 1)
		}
		return t.Insert(rng.IntN(t.Len()+1), strings.Repeat("abc"[rng.IntN(3):][:1], 1+rng.IntN(3)))
	})
	if err != nil {
		cc.editErr.Add(1)
		return false
	}
	cc.mu.Lock()
	cc.ops = append(cc.ops, crashOp{key: key, end: cc.c.Clock()})
	cc.mu.Unlock()
	return true
}

// acked returns cc's saved clock and the ledger keys of the edits it covers: the edits the server
// acknowledged to cc so far.
func (cc *crashClient) acked() (saved uint64, keys []string) {
	saved = cc.c.Saved()
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, op := range cc.ops {
		if op.end <= saved {
			keys = append(keys, op.key)
		}
	}
	return saved, keys
}

// awaitStatus waits until each of clients has reported want on its status channel, for at most d
// in all, and returns those that had not by then.
func awaitStatus(clients []*crashClient, want client.Status, d time.Duration) (late []*crashClient) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	expired := false
	for _, cc := range clients {
		for done := false; !done; {
			if expired {
				select {
				case s := <-cc.status:
					done = s == want
				default:
					late = append(late, cc)
					done = true
				}
				continue
			}
			select {
			case s := <-cc.status:
				done = s == want
			case <-timer.C:
				expired = true
			}
		}
	}
	return late
}

// postLedgerEdit posts body, an HTTP edit of doc, to the server at addr (with token, if any); it
// reports whether the server answered 200 (the edit is durable). A request refused as bad fails
// the test: that is a fault of the harness's, never of a crash, which resets the connection or
// answers 5xx.
func postLedgerEdit(t *testing.T, hc *http.Client, addr, token, doc, body string) bool {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/docs/"+doc+"/edits", strings.NewReader(body))
	if err != nil {
		t.Errorf("POST edits on %s: %v", doc, err)
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if refusedAsBad(resp.StatusCode) {
		t.Errorf("POST edits on %s through %s: %d for %s", doc, addr, resp.StatusCode, body)
	}
	return resp.StatusCode == http.StatusOK
}

// refusedAsBad reports whether an HTTP edit's answer refuses the request itself (4xx but 429).
func refusedAsBad(code int) bool {
	return code >= 400 && code < 500 && code != http.StatusTooManyRequests
}

// fileTail returns the last lines of a log file, for a failure message.
func fileTail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return path + ":\n" + strings.Join(lines, "\n")
}
