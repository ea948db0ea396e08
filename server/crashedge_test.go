package server_test

// Integrity at the crash edges (DESIGN.md, "Identity and crashes"). Each test runs the real server
// binary as a child process with a storage batch delay wide enough that an update is always still
// waiting for its commit when the test kills the server (SIGKILL), and checks, after the restart,
// that every replica converges (identical text and identical encoded state on the server, every
// editor and a fresh joiner) and that no honest client was closed with a terminal code. The
// editors are wstest.Editor: written from docs/protocol.md, their catch-up after a reconnect sends
// everything the server lacks, other clients' units included.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/server"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// edgeSecret is the token secret of the tests that run with authentication on.
const edgeSecret = "crash edge secret: at least 32 bytes long"

// edgeRoot is the Text root the crash-edge tests edit.
const edgeRoot = "body"

// proc is a tandem server running as a child process on a fixed address and data file, so that a
// restart finds the same documents and clients reconnect to the same place.
type proc struct {
	t       *testing.T
	bin     string
	args    []string
	env     []string
	addr    string
	base    string // http://addr
	logPath string
	cmd     *exec.Cmd
	exited  chan error
}

// startProc starts the server binary bin on a fresh data file with the extra flags args, and the
// token secret edgeSecret if secret is set.
func startProc(t *testing.T, bin string, secret bool, args ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	p := &proc{t: t, bin: bin, addr: freeAddr(t), logPath: filepath.Join(dir, "server.log")}
	p.base = "http://" + p.addr
	p.args = append([]string{"serve", "--addr", p.addr, "--data", filepath.Join(dir, "edge.db"), "--log-level", "info"}, args...)
	p.env = os.Environ()
	if secret {
		p.env = append(p.env, "TANDEM_AUTH_SECRET="+edgeSecret)
	}
	p.start()
	t.Cleanup(func() {
		if p.cmd != nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *proc) start() {
	p.t.Helper()
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	p.cmd = cmd
	p.exited = startListening(p.t, cmd, logFile, p.logTail)
}

// kill kills the server with SIGKILL and waits for it to be gone.
func (p *proc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("kill: %v", err)
	}
	<-p.exited
	p.cmd = nil
}

// restart kills the server and starts it again on the same address and data.
func (p *proc) restart() {
	p.t.Helper()
	p.kill()
	p.start()
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// metric returns the value of the counter name from /metrics.
func (p *proc) metric(name string) float64 {
	p.t.Helper()
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		p.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				p.t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	return 0
}

// waitApplied waits (bounded) until the server has applied at least n updates since it started.
func (p *proc) waitApplied(n float64) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.metric("tandem_updates_applied_total") < n {
		if time.Now().After(deadline) {
			p.t.Fatalf("the server did not apply %v updates within 10 s\n%s", n, p.logTail())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// edgeToken mints a write token for subject on every document.
func edgeToken(t testing.TB, subject string) string {
	t.Helper()
	return server.MintWith(t, []byte(edgeSecret), auth.Claims{Subject: subject, Documents: "*", Role: auth.RoleWrite, Expires: time.Now().Add(time.Hour)})
}

// postEdit inserts text at index of the edge root of doc through POST /v1/docs/{doc}/edits and
// returns the HTTP status (0 and the error if the request failed).
func postEdit(base, doc, token string, index int, text string) (int, error) {
	body, _ := json.Marshal(map[string]any{"root": edgeRoot, "edits": []map[string]any{{"index": index, "insert": text}}})
	req, err := http.NewRequest(http.MethodPost, base+"/v1/docs/"+doc+"/edits", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = server.Bearer(token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// mustPostEdit is postEdit that must succeed.
func mustPostEdit(t *testing.T, base, doc, token string, index int, text string) {
	t.Helper()
	if code, err := postEdit(base, doc, token, index, text); err != nil || code != http.StatusOK {
		t.Fatalf("POST edits %q: %d, %v", text, code, err)
	}
}

// edgeEditor is a protocol-level editor with its token.
type edgeEditor struct {
	*wstest.Editor
	token string
}

func newEdgeEditor(t *testing.T, clientID uint64, token string) *edgeEditor {
	t.Helper()
	e, err := wstest.NewEditor(clientID)
	if err != nil {
		t.Fatal(err)
	}
	return &edgeEditor{Editor: e, token: token}
}

// join (re)connects the editor to doc: hello with its state vector, the sync, its catch-up. A
// refusal of the catch-up shows in the next pump.
func (e *edgeEditor) join(t *testing.T, base, doc string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := e.Join(ctx, base, doc, wstest.DialOptions{Header: server.Bearer(e.token)}); err != nil {
		t.Fatalf("editor %d: join %q: %v", e.ClientID, doc, err)
	}
	t.Cleanup(func() { _ = e.Client.Close() })
}

// state is what must be equal across converged replicas: the text and the encoded state.
type edgeState struct {
	text string
	snap []byte
	sv   string
}

func stateOfDoc(d *crdt.Doc) edgeState {
	return edgeState{text: d.Text(edgeRoot).String(), snap: d.EncodeSnapshot(), sv: fmt.Sprint(d.StateVector())}
}

func (s edgeState) equal(o edgeState) bool {
	return s.text == o.text && bytes.Equal(s.snap, o.snap) && s.sv == o.sv
}

// checkConverged waits until every editor's replica equals the server's, as a fresh joiner sees
// it, and checks that every editor's updates are acknowledged (an honest client is never
// refused: a refusal arrives as an error message, which fails the pump).
func checkConverged(t *testing.T, base, doc, token string, editors ...*edgeEditor) edgeState {
	t.Helper()
	for _, e := range editors {
		if err := e.WaitAcked(10 * time.Second); err != nil {
			t.Fatalf("editor %d: waiting for its acks: %v", e.ClientID, err)
		}
	}
	joiner := newEdgeEditor(t, 1<<40+uint64(time.Now().UnixNano()%1000), token)
	joiner.join(t, base, doc)
	want := stateOfDoc(joiner.Doc)
	for _, e := range editors {
		err := e.Pump(10*time.Second, func() bool { return stateOfDoc(e.Doc).equal(want) })
		if err != nil {
			got := stateOfDoc(e.Doc)
			t.Fatalf("editor %d did not converge: %v\n  editor: %q sv %s\n  server: %q sv %s", e.ClientID, err, got.text, got.sv, want.text, want.sv)
		}
	}
	return want
}

// TestCrashEdgeServerClockReuse: HTTP edits are made under the server's own client ID, which
// outlives the process while its clocks do not. An edit relayed to an editor and lost in a crash
// must never have its clocks issued again with other content (docs/crdt.md, section 1.1).
func TestCrashEdgeServerClockReuse(t *testing.T) {
	bin := buildServer(t, "")
	p := startProc(t, bin, false, "--storage-max-batch-delay", "2s")
	const doc = "edge-clock"
	mustPostEdit(t, p.base, doc, "", 0, "base ")
	e := newEdgeEditor(t, 101, "")
	e.join(t, p.base, doc)

	applied := p.metric("tandem_updates_applied_total")
	lost := make(chan error, 1)
	go func() {
		_, err := postEdit(p.base, doc, "", 0, "AAA ")
		lost <- err
	}()
	p.waitApplied(applied + 1)
	// A server that relays before the commit sends "AAA " now; give it the time to arrive.
	_ = e.Pump(300*time.Millisecond, func() bool { return strings.Contains(e.Text(edgeRoot), "AAA") })
	p.restart()
	if err := <-lost; err == nil {
		t.Logf("the lost edit was answered before the kill (the batch delay did not hold it)")
	}
	mustPostEdit(t, p.base, doc, "", 0, "BBB ")
	e.join(t, p.base, doc)
	got := checkConverged(t, p.base, doc, "", e)
	if !strings.Contains(got.text, "BBB base") {
		t.Errorf("server text %q; want it to hold the edit made after the restart", got.text)
	}
}

// TestCrashEdgeRelayedUnitOfAnotherSubject: Alice's first unit reaches the server and is lost in a
// crash; Bob, of another subject, reconnects first with his own unacknowledged edit. Neither is
// closed with a terminal code, no edit is lost, and the replicas converge.
func TestCrashEdgeRelayedUnitOfAnotherSubject(t *testing.T) {
	bin := buildServer(t, "")
	p := startProc(t, bin, true, "--storage-max-batch-delay", "2s")
	const doc = "edge-relay"
	alice := newEdgeEditor(t, 201, edgeToken(t, "alice"))
	bob := newEdgeEditor(t, 302, edgeToken(t, "bob"))
	bob.join(t, p.base, doc)
	if err := bob.Insert(edgeRoot, 0, "base "); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitAcked(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	alice.join(t, p.base, doc)

	applied := p.metric("tandem_updates_applied_total")
	if err := alice.Insert(edgeRoot, 5, "alice"); err != nil {
		t.Fatal(err)
	}
	p.waitApplied(applied + 1)
	_ = bob.Pump(300*time.Millisecond, func() bool { return strings.Contains(bob.Text(edgeRoot), "alice") })
	if err := bob.Insert(edgeRoot, 0, "bob "); err != nil {
		t.Fatal(err)
	}
	p.waitApplied(applied + 2)
	p.restart()

	bob.join(t, p.base, doc) // first back: his catch-up carries whatever he holds that the server lacks
	if err := bob.WaitAcked(10 * time.Second); err != nil {
		t.Fatalf("bob's catch-up after the crash: %v\n%s", err, p.logTail())
	}
	alice.join(t, p.base, doc)
	got := checkConverged(t, p.base, doc, alice.token, alice, bob)
	for _, want := range []string{"bob ", "alice", "base "} {
		if !strings.Contains(got.text, want) {
			t.Errorf("converged text %q lacks %q: an honest edit was lost", got.text, want)
		}
	}
}
