package server_test

// A seeded randomized crash test: editors that follow docs/protocol.md (their catch-up carries
// everything the server lacks, other clients' units included), of three subjects, edit two
// documents over WebSockets while HTTP edits arrive; editors join, leave, come back with offline
// edits, and reconnect while the server is killed (SIGKILL) inside a long storage batch delay,
// sometimes right after their catch-up. At the end, every replica converges to the server's text
// and encoded state, every edit of every editor is there (each sets a ledger key), every HTTP edit
// answered 200 is there, and no editor was ever closed with a terminal code.
//
// The normal run tries crashRandomSeeds seeds; TANDEM_CRASH_SEEDS=n tries n (make crash-long),
// and TANDEM_CRASH_SEED=s repeats seed s. A failure prints its seed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// crashRandomSeeds is how many seeds the normal test run tries.
const crashRandomSeeds = 3

func TestCrashRandom(t *testing.T) {
	seeds := []uint64{1, 2, 3}[:crashRandomSeeds]
	if v := os.Getenv("TANDEM_CRASH_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TANDEM_CRASH_SEEDS=%q: want a positive count", v)
		}
		base := uint64(time.Now().UnixNano())
		seeds = seeds[:0]
		for i := range n {
			seeds = append(seeds, base+uint64(i))
		}
	}
	if v := os.Getenv("TANDEM_CRASH_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("TANDEM_CRASH_SEED=%q: %v", v, err)
		}
		seeds = []uint64{s}
	}
	bin := buildServer(t, "")
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := &crashRun{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x7a4d))}
			defer func() {
				if t.Failed() {
					t.Logf("repeat with: TANDEM_CRASH_SEED=%d go test -race -count=1 -run 'TestCrashRandom' ./server/", seed)
				}
			}()
			r.run(bin)
		})
	}
}

// crashRun is one seed's run.
type crashRun struct {
	t       *testing.T
	seed    uint64
	rng     *rand.Rand
	p       *proc
	editors []*randEditor
	docs    []string
	nextID  uint64

	httpWG    sync.WaitGroup
	httpMu    sync.Mutex
	httpAcked map[string][]string // doc -> ledger keys of HTTP edits answered 200
	httpN     int
}

// randEditor is one editor and what it wrote.
type randEditor struct {
	*edgeEditor
	doc       string
	subject   string
	connected bool
	keys      []string // ledger keys it set
}

const randLedger = "ledger"

func (r *crashRun) run(bin string) {
	t := r.t
	delay := []string{"300ms", "700ms", "1s"}[r.rng.IntN(3)]
	r.p = startProc(t, bin, true, "--storage-max-batch-delay", delay)
	r.docs = []string{"rand-a", "rand-b"}
	r.httpAcked = map[string][]string{}
	r.nextID = 1000 + r.seed%1000*1000
	for range 4 {
		r.addEditor()
	}
	const steps = 120
	for step := 0; step < steps; step++ {
		switch k := r.rng.IntN(100); {
		case k < 45:
			r.edit(r.pick())
		case k < 60:
			r.pumpAll(5 * time.Millisecond)
		case k < 68:
			e := r.pick()
			if e.connected {
				_ = e.Client.Close()
				e.connected = false
			} else {
				r.join(e)
			}
		case k < 78:
			r.httpEdit()
		case k < 81:
			if len(r.editors) < 8 {
				r.addEditor()
			}
		case k < 86:
			r.crash()
		default:
			time.Sleep(time.Duration(r.rng.IntN(20)) * time.Millisecond)
		}
	}
	r.crash()
	r.httpWG.Wait()
	for _, e := range r.editors {
		if !e.connected {
			r.join(e)
		}
	}
	r.check()
}

// pick returns a random editor.
func (r *crashRun) pick() *randEditor { return r.editors[r.rng.IntN(len(r.editors))] }

// addEditor adds an editor of a random subject on a random document and joins it.
func (r *crashRun) addEditor() {
	r.nextID++
	subject := []string{"alice", "bob", "carol"}[r.rng.IntN(3)]
	e := &randEditor{edgeEditor: newEdgeEditor(r.t, r.nextID, edgeToken(r.t, subject)), doc: r.docs[r.rng.IntN(len(r.docs))], subject: subject}
	r.editors = append(r.editors, e)
	r.join(e)
}

// join connects e (hello, sync, catch-up). A connection refused because the server is down is
// retried once it is up again; the server is always up here.
func (r *crashRun) join(e *randEditor) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := e.Join(ctx, r.p.base, e.doc, wstest.DialOptions{Header: server.Bearer(e.token)}); err != nil {
		r.t.Fatalf("seed %d: editor %d (%s) join: %v\n%s", r.seed, e.ClientID, e.subject, err, r.p.logTail())
	}
	e.connected = true
}

// edit makes one edit in e's replica (sent if connected): a ledger key and a text change.
func (r *crashRun) edit(e *randEditor) {
	key := fmt.Sprintf("%d:%d", e.ClientID, len(e.keys))
	if err := e.Doc.Map(randLedger).Set(key, json.RawMessage("1")); err != nil {
		r.t.Fatal(err)
	}
	text := e.Doc.Text(edgeRoot)
	if n := text.Len(); n > 0 && r.rng.IntN(4) == 0 {
		if err := text.Delete(r.rng.IntN(n), 1); err != nil {
			r.t.Fatal(err)
		}
	} else if err := text.Insert(r.rng.IntN(text.Len()+1), string(rune('a'+r.rng.IntN(26)))); err != nil {
		r.t.Fatal(err)
	}
	e.keys = append(e.keys, key)
	if e.connected {
		if err := e.Flush(); err != nil {
			e.connected = false // the socket died (a crash): the catch-up carries the edit
		}
	}
}

// pumpAll reads what each connected editor was sent, and fails on a terminal close.
func (r *crashRun) pumpAll(wait time.Duration) {
	for _, e := range r.editors {
		r.pump(e, wait)
	}
}

func (r *crashRun) pump(e *randEditor, wait time.Duration) {
	for e.connected {
		m, err := e.Read(wait)
		if wstest.IsTimeout(err) {
			return
		}
		if err != nil {
			r.checkClose(e, err)
			e.connected = false
			return
		}
		if pe, ok := m.(*protocol.Error); ok {
			if pe.Code.Terminal() {
				r.t.Fatalf("seed %d: editor %d (%s) refused with terminal %d %q\n%s", r.seed, e.ClientID, e.subject, pe.Code, pe.Message, r.p.logTail())
			}
			continue
		}
		if err := e.Handle(m); err != nil {
			r.t.Fatalf("seed %d: editor %d: %v", r.seed, e.ClientID, err)
		}
	}
}

// checkClose fails on a close with a terminal code.
func (r *crashRun) checkClose(e *randEditor, err error) {
	var cl *wstest.Closed
	if errors.As(err, &cl) && protocol.CloseCode(cl.Code).Terminal() {
		r.t.Fatalf("seed %d: editor %d (%s) closed with terminal %d %q\n%s", r.seed, e.ClientID, e.subject, cl.Code, cl.Text, r.p.logTail())
	}
}

// httpEdit posts an edit to a random document in the background: a ledger key and a character.
func (r *crashRun) httpEdit() {
	r.httpN++
	doc := r.docs[r.rng.IntN(len(r.docs))]
	key := fmt.Sprintf("http:%d", r.httpN)
	body := fmt.Sprintf(`{"root":%q,"edits":[{"index":0,"insert":"H"}],"map":{"root":%q,"set":{%q:1}}}`, edgeRoot, randLedger, key)
	base, tok := r.p.base, edgeToken(r.t, "http-writer")
	r.httpWG.Add(1)
	go func() {
		defer r.httpWG.Done()
		req, err := http.NewRequest(http.MethodPost, base+"/v1/docs/"+doc+"/edits", strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header = server.Bearer(tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			return
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			r.httpMu.Lock()
			r.httpAcked[doc] = append(r.httpAcked[doc], key)
			r.httpMu.Unlock()
		}
	}()
}

// crash kills the server inside the batch delay and restarts it. Some editors reconnect at once
// and send their catch-up; half the time the server is killed again right after (a reconnect
// during the catch-up), and they reconnect once more.
func (r *crashRun) crash() {
	r.pumpAll(time.Millisecond)
	r.p.restart()
	for _, e := range r.editors {
		if e.connected {
			_ = e.Client.Close()
			e.connected = false
		}
	}
	var back []*randEditor
	for _, e := range r.editors {
		if r.rng.IntN(2) == 0 {
			r.join(e)
			back = append(back, e)
		}
	}
	if len(back) > 0 && r.rng.IntN(2) == 0 {
		r.p.restart()
		for _, e := range back {
			_ = e.Client.Close()
			e.connected = false
			r.join(e)
		}
	}
}

// check waits until everything is acknowledged and checks convergence and that nothing is lost.
func (r *crashRun) check() {
	t := r.t
	for _, doc := range r.docs {
		var eds []*edgeEditor
		var keys []string
		for _, e := range r.editors {
			if e.doc == doc {
				eds = append(eds, e.edgeEditor)
				keys = append(keys, e.keys...)
			}
		}
		for _, e := range r.editors {
			if e.doc == doc {
				if err := e.WaitAcked(15 * time.Second); err != nil {
					t.Fatalf("seed %d: editor %d (%s): waiting for acks: %v\n%s", r.seed, e.ClientID, e.subject, err, r.p.logTail())
				}
			}
		}
		state := checkConverged(t, r.p.base, doc, edgeToken(t, "auditor"), eds...)
		d, err := crdt.NewDoc(1, crdt.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Apply(state.snap); err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, k := range d.Map(randLedger).Keys() {
			have[k] = true
		}
		r.httpMu.Lock()
		keys = append(keys, r.httpAcked[doc]...)
		r.httpMu.Unlock()
		for _, k := range keys {
			if !have[k] {
				t.Errorf("seed %d: %s: edit %s lost", r.seed, doc, k)
			}
		}
		t.Logf("%s: %d editors converged, %d ledger keys, text of %d code points", doc, len(eds), len(have), len([]rune(state.text)))
	}
}
