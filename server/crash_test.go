package server_test

// The crash test (T-DUR-01 of the reliability plan): the real server binary runs as a child
// process under a steady write load, is killed with SIGKILL at a random moment, and must come back
// with every edit it acknowledged. TestCrashHasTeeth (T-DUR-03) runs the same harness against a
// build that acknowledges before the commit, and passes only if the harness catches the loss: a
// crash test that cannot fail proves nothing.

import (
	"testing"
)

const (
	crashClients       = 8
	crashDocs          = 4
	crashRatePerClient = 40 // edits per second per client: 320 in all, under the default rate limit
	ledgerRoot         = "ledger"
	textRoot           = "body"
)

// TestCrashKill9 runs with authentication on (the editors hold tokens of two subjects) and HTTP
// writers beside the WebSocket editors: after every cycle, every acknowledged edit (WebSocket or
// HTTP) is there, no editor was closed with a terminal code, and every replica converges to the
// server's text and encoded state.
func TestCrashKill9(t *testing.T) {
	cycles := 20
	if testing.Short() {
		cycles = 3
	}
	h := newCrashHarness(t, "", crashOptions{auth: true, http: true, batchDelay: "50ms"})
	for i := 1; i <= cycles; i++ {
		r := h.cycle(i)
		if r.missing > 0 {
			t.Fatalf("cycle %d: %d of %d acknowledged edits missing after SIGKILL and restart (first: %v)", i, r.missing, r.acked, r.firstMissing)
		}
	}
	h.finish()
}

func TestCrashHasTeeth(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a second server binary; skipped with -short")
	}
	h := newCrashHarness(t, "crashtest_ackearly", crashOptions{})
	for i := 1; i <= 20; i++ {
		r := h.cycle(i)
		if r.missing > 0 {
			t.Logf("the harness caught the loss in cycle %d: %d of %d acknowledged edits missing (first: %v)", i, r.missing, r.acked, r.firstMissing)
			h.finish()
			return
		}
	}
	t.Fatalf("a server that acknowledges before committing lost nothing the harness could see in 20 SIGKILL cycles: the crash test has no teeth")
}

// crashOptions configure a crash harness.
type crashOptions struct {
	auth bool // run with a token secret; the editors hold tokens of two subjects
	http bool // one HTTP writer per document beside the editors
	// batchDelay, if set, is the server's --storage-max-batch-delay: the wider the window between
	// an update's arrival and its commit, the more a kill finds in it.
	batchDelay string
}

// crashSubjects are the subjects of the editors' tokens when the harness runs with auth: the
// editors of each document are of different subjects.
var crashSubjects = [...]string{"alice", "bob"}

// httpRatePerDoc is the HTTP writers' edits per second per document.
const httpRatePerDoc = 10
