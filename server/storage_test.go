package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// TestStorageFailure makes storage fail appends and snapshots: no acknowledgement may go out, the
// actor retries its save, then gives up and closes the document with 1011; once storage works again,
// the editor reconnects, sends what the server lacks, and everything is durable.
func TestStorageFailure(t *testing.T) {
	cfg := testConfig(t)
	cfg.SaveRetries = 2
	var fs *faultStore
	ts := startServer(t, cfg, func(s docStore) docStore { fs = &faultStore{docStore: s}; return fs })
	const doc = "faulty"
	e := ts.editor(t, doc, 81)
	if err := e.Insert("body", 0, "a"); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitAcked(0); err != nil {
		t.Fatal(err)
	}

	fs.setFailing(true)
	if err := e.Insert("body", 1, "b"); err != nil {
		t.Fatal(err)
	}
	// No ack: the document closes with 1011 once its save retries are spent.
	cl, err := e.ExpectClose(0)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Code != int(protocol.CloseInternalError) {
		t.Errorf("closed with %v; want 1011", cl)
	}
	if e.Acked != 1 {
		t.Errorf("acked %d; want 1 (the update made while storage failed is not acknowledged)", e.Acked)
	}
	if got := ts.metrics.saveFailures.Value(); got != uint64(cfg.SaveRetries+1) {
		t.Errorf("save failures = %d; want %d", got, cfg.SaveRetries+1)
	}
	if got := ts.metrics.savesAbandoned.Value(); got != 1 {
		t.Errorf("saves abandoned = %d; want 1", got)
	}
	waitFor(t, 5*time.Second, "the document to close", func() bool { return ts.docs.open() == 0 })

	fs.setFailing(false)
	if err := e.Join(context.Background(), ts.base, doc, wstest.DialOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitAcked(0); err != nil {
		t.Fatal(err)
	}
	if e.Sent != 1 {
		t.Errorf("after reconnect sent %d updates; want 1 (what the server lacked)", e.Sent)
	}
	if got := ts.serverText(t, doc, "body"); got != "ab" {
		t.Errorf("server text = %q; want %q", got, "ab")
	}
	_ = e.Close()
	ts.shutdown(t)
	if got := reopenDoc(t, ts.path, doc).Text("body").String(); got != "ab" {
		t.Errorf("stored text = %q; want %q", got, "ab")
	}
}

// TestAppendFailureHealedBySnapshot makes one append fail while snapshots work: the update is
// acknowledged once a snapshot covers it, without closing anything.
func TestAppendFailureHealedBySnapshot(t *testing.T) {
	cfg := testConfig(t)
	fs := &appendFaults{}
	ts := startServer(t, cfg, func(s docStore) docStore { fs.docStore = s; return fs })
	const doc = "healed"
	e := ts.editor(t, doc, 82)
	fs.failNext.Store(1)
	if err := e.Insert("body", 0, "x"); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitAcked(0); err != nil {
		t.Fatal(err)
	}
	if got := ts.metrics.appendFailures.Value(); got != 1 {
		t.Errorf("append failures = %d; want 1", got)
	}
	if got := ts.metrics.saves.Value(); got < 1 {
		t.Errorf("saves = %d; want a snapshot to cover the failed append", got)
	}
	ts.shutdown(t)
	if got := reopenDoc(t, ts.path, doc).Text("body").String(); got != "x" {
		t.Errorf("stored text = %q; want %q", got, "x")
	}
}

// TestCompaction checks that the log is compacted past its threshold while editing goes on, and
// that a reload gives the same document.
func TestCompaction(t *testing.T) {
	cfg := testConfig(t)
	cfg.CompactLogEntries = 10
	ts := startServer(t, cfg, nil)
	const doc = "compact"
	e := ts.editor(t, doc, 83)
	var want strings.Builder
	for i := range 55 {
		s := fmt.Sprintf("%d;", i)
		want.WriteString(s)
		if err := e.Insert("body", e.Doc.Text("body").Len(), s); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.WaitAcked(0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the last compaction", func() bool {
		m, _, _ := ts.inner.Stat(doc)
		return m.LogEntries < cfg.CompactLogEntries
	})
	// How many compactions run depends on how many appends are in flight when each starts (those
	// stay in the log); at least two are needed to bring 55 entries under a threshold of 10. They
	// are counted once the log is under it: a compaction is reported when the bbolt file holds it,
	// which can be after the acks of the appends behind it (they are durable in the write-ahead
	// log first), so the second may start only after the last ack.
	if got := ts.metrics.compactions.Value(); got < 2 {
		t.Errorf("compactions = %d; want at least 2 for 55 updates past a threshold of 10", got)
	}
	ts.shutdown(t)
	if got := reopenDoc(t, ts.path, doc).Text("body").String(); got != want.String() {
		t.Errorf("stored text = %q; want %q", got, want.String())
	}
}
