package server_test

// The crash test's checks (the tests are in crash_test.go): the audit of a document's acknowledged
// edits, terminal closes, convergence of the replicas, state vector size, and the final check.

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
)

// audit reads a document through a fresh client and returns its ledger keys.
func (h *crashHarness) audit(doc string) map[string]bool {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := client.Dial(ctx, "ws://"+h.addr, doc, client.Options{Token: h.audTok, ReadOnly: true})
	if err != nil {
		h.t.Fatalf("auditor: %v\n%s", err, h.logTail())
	}
	defer a.Close()
	keys := map[string]bool{}
	a.Read(func(d *crdt.Doc) {
		for _, k := range d.Map(ledgerRoot).Keys() {
			keys[k] = true
		}
	})
	return keys
}

// replicaState is what must be equal across converged replicas.
type replicaState struct {
	text string
	keys string
	sv   string
	snap string // the encoded state (EncodeSnapshot)
}

func stateOf(d *crdt.Doc) replicaState {
	keys := d.Map(ledgerRoot).Keys()
	sort.Strings(keys)
	return replicaState{text: d.Text(textRoot).String(), keys: strings.Join(keys, ","), sv: fmt.Sprint(d.StateVector()), snap: string(d.EncodeSnapshot())}
}

// checkNoTerminal fails if an editor was closed with a terminal code: none of them is dishonest.
func (h *crashHarness) checkNoTerminal(n int) {
	h.t.Helper()
	for i, cc := range h.clients {
		if ce := cc.terminal.Load(); ce != nil {
			h.t.Fatalf("cycle %d: client %d was closed with a terminal code: %v\n%s", n, i, ce, h.logTail())
		}
	}
}

// checkConverged pauses the load, waits until every edit is acknowledged, and checks that every
// client and a fresh auditor hold the same document (within 5 s).
func (h *crashHarness) checkConverged(n int) {
	h.t.Helper()
	defer h.paused.Store(false)
	if err := h.quiesce(crashRatePerClient, 10*time.Second); err != nil {
		h.t.Fatalf("cycle %d: %v", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, cc := range h.clients {
		if err := cc.c.WaitSaved(ctx); err != nil {
			h.t.Fatalf("cycle %d: client %d: WaitSaved: %v\n%s", n, i, err, h.logTail())
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for d := 0; d < crashDocs; d++ {
		doc := fmt.Sprintf("crash-%d", d)
		for {
			var want replicaState
			a, err := client.Dial(ctx, "ws://"+h.addr, doc, client.Options{Token: h.audTok, ReadOnly: true})
			if err != nil {
				h.t.Fatalf("auditor: %v", err)
			}
			a.Read(func(d *crdt.Doc) { want = stateOf(d) })
			a.Close()
			diverged := ""
			var divergedClient *crashClient
			for i, cc := range h.clients {
				if cc.doc != doc {
					continue
				}
				var got replicaState
				cc.c.Read(func(d *crdt.Doc) { got = stateOf(d) })
				if got != want {
					diverged = fmt.Sprintf("client %d: text %d chars, state vector %s; server: text %d chars, state vector %s",
						i, len(got.text), got.sv, len(want.text), want.sv)
					divergedClient = cc
					break
				}
			}
			if diverged == "" {
				break
			}
			if time.Now().After(deadline) {
				h.t.Fatalf("cycle %d: %s: replicas did not converge within 5 s: %s\n%s\nserver log:\n%s", n, doc, diverged, divergedClient.describe(), h.logTail())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// checkStateVectorSize checks that the restarts did not grow the documents' state vectors: one
// entry per editor of the document, and one for the server's own client ID (HTTP edits), which
// stays the same across restarts.
func (h *crashHarness) checkStateVectorSize() {
	h.t.Helper()
	perDoc := map[string]int{}
	for _, cc := range h.clients {
		perDoc[cc.doc]++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for doc, editors := range perDoc {
		a, err := client.Dial(ctx, "ws://"+h.addr, doc, client.Options{Token: h.audTok, ReadOnly: true})
		if err != nil {
			h.t.Fatalf("auditor: %v", err)
		}
		var n int
		a.Read(func(d *crdt.Doc) { n = len(d.StateVector()) })
		a.Close()
		want := editors
		if h.opts.http {
			want++
		}
		if n != want {
			h.t.Errorf("%s: state vector of %d entries after the restarts; want %d (%d editors and the server's own)", doc, n, want, editors)
		}
		h.t.Logf("%s: state vector of %d entries", doc, n)
	}
}

// finish stops the load, checks convergence a last time and stops the server gracefully.
func (h *crashHarness) finish() {
	h.t.Helper()
	h.checkConverged(-1)
	h.checkNoTerminal(-1)
	h.checkStateVectorSize()
	h.stopLoad()
	var editErrs int64
	for _, cc := range h.clients {
		editErrs += cc.editErr.Load()
		cc.c.Close()
	}
	if err := h.srv.Process.Signal(os.Interrupt); err != nil {
		h.t.Fatal(err)
	}
	select {
	case err := <-h.exited:
		if err != nil {
			h.t.Errorf("server exit after SIGINT: %v\n%s", err, h.logTail())
		}
	case <-time.After(10 * time.Second):
		h.t.Errorf("server did not exit within 10 s of SIGINT")
	}
	h.srv = nil
	h.t.Logf("%d edits in all (%d refused locally); HTTP: %d acknowledged, %d failed", h.ops.Load(), editErrs, h.httpAckedCount(), h.httpFailed.Load())
}
