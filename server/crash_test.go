package server_test

// The crash test (T-DUR-01 of the reliability plan): the real server binary runs as a child
// process under a steady write load, is killed with SIGKILL at a random moment, and must come back
// with every edit it acknowledged. TestCrashHasTeeth (T-DUR-03) runs the same harness against a
// build that acknowledges before the commit, and passes only if the harness catches the loss: a
// crash test that cannot fail proves nothing.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/storage"
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

// crashHarness owns the server process, its data file, and the clients that load it.
type crashHarness struct {
	t       *testing.T
	opts    crashOptions
	audTok  string // the auditors' token (read role), with auth
	httpTok string // the HTTP writers' token, with auth
	bin     string
	data    string
	addr    string // 127.0.0.1:port, the same across restarts so that clients reconnect
	logPath string
	srv     *exec.Cmd
	exited  chan error
	gate    *dialGate
	clients []*crashClient
	paused  atomic.Bool
	stop    chan struct{}
	loadWG  sync.WaitGroup
	ops     atomic.Int64

	// The HTTP writers' acknowledged ledger keys, per document, and their requests in flight.
	httpMu     sync.Mutex
	httpAcked  map[string][]string
	httpBusy   atomic.Int64
	httpFailed atomic.Int64
}

// crashClient is one editor: a reconnecting client and the record of its edits.
type crashClient struct {
	c       *client.Conn
	doc     string
	mu      sync.Mutex
	ops     []crashOp
	status  chan client.Status
	editErr atomic.Int64
	// terminal is the first terminal close the client saw: an honest client never should.
	terminal atomic.Pointer[client.CloseError]
	// history keeps the client's last status changes, for the report of a failed convergence.
	histMu  sync.Mutex
	history []string
}

func (cc *crashClient) noteStatus(s client.Status, err error) {
	cc.histMu.Lock()
	defer cc.histMu.Unlock()
	e := fmt.Sprintf("%s %s (%v)", time.Now().Format("15:04:05.000"), s, err)
	if len(cc.history) == 8 {
		cc.history = append(cc.history[:0], cc.history[1:]...)
	}
	cc.history = append(cc.history, e)
}

func (cc *crashClient) describe() string {
	cc.histMu.Lock()
	defer cc.histMu.Unlock()
	ls := cc.c.LastSync()
	var pending int
	cc.c.Read(func(d *crdt.Doc) { pending = d.PendingBytes() })
	return fmt.Sprintf("client %d; %d bytes pending; last sync %d bytes at %s; status changes: %s",
		cc.c.ClientID(), pending, ls.Bytes, ls.Applied.Format("15:04:05.000"), strings.Join(cc.history, "; "))
}

// crashOp is one edit: a ledger key and the clock after it (the edit is acknowledged once the
// client's saved clock reaches it).
type crashOp struct {
	key string
	end uint64
}

type cycleResult struct {
	acked, missing int
	firstMissing   string
}

// buildServer compiles cmd/tandem (with tags) into dir.
func buildServer(t *testing.T, tags string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tandem")
	args := []string{"build", "-o", bin}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, "../cmd/tandem")
	cmd := exec.Command("go", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newCrashHarness(t *testing.T, tags string, opts crashOptions) *crashHarness {
	t.Helper()
	dir := t.TempDir()
	h := &crashHarness{
		t:         t,
		opts:      opts,
		httpAcked: map[string][]string{},
		bin:       buildServer(t, tags),
		data:      filepath.Join(dir, "crash.db"),
		addr:      freeAddr(t),
		logPath:   filepath.Join(dir, "server.log"),
		gate:      newDialGate(),
		stop:      make(chan struct{}),
	}
	if opts.auth {
		h.audTok = crashToken(t, "auditor", auth.RoleRead)
		h.httpTok = crashToken(t, "http-writer", auth.RoleWrite)
	}
	t.Cleanup(h.cleanup)
	h.start()
	dialer := &websocket.Dialer{NetDialContext: h.gate.dial, HandshakeTimeout: 5 * time.Second}
	for i := 0; i < crashClients; i++ {
		cc := &crashClient{doc: fmt.Sprintf("crash-%d", i%crashDocs), status: make(chan client.Status, 64)}
		var token string
		if opts.auth {
			token = crashToken(t, crashSubjects[(i/crashDocs)%len(crashSubjects)], auth.RoleWrite)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Dial(ctx, "ws://"+h.addr, cc.doc, client.Options{
			Token:     token,
			Reconnect: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			HandshakeTimeout: 5 * time.Second, Dialer: dialer,
			OnStatus: func(s client.Status, err error) {
				var ce *client.CloseError
				if errors.As(err, &ce) && ce.Code.Terminal() {
					cc.terminal.CompareAndSwap(nil, ce)
				}
				cc.noteStatus(s, err)
				select {
				case cc.status <- s:
				default:
				}
			},
		})
		cancel()
		if err != nil {
			t.Fatalf("client %d: Dial: %v", i, err)
		}
		cc.c = c
		h.clients = append(h.clients, cc)
	}
	for i, cc := range h.clients {
		h.loadWG.Add(1)
		go h.load(cc, rand.New(rand.NewPCG(uint64(i), 1)))
	}
	if opts.http {
		for d := 0; d < crashDocs; d++ {
			h.loadWG.Add(1)
			go h.httpLoad(fmt.Sprintf("crash-%d", d))
		}
	}
	return h
}

// crashToken mints a token of subject with role on every document, with edgeSecret.
func crashToken(t *testing.T, subject string, role auth.Role) string {
	t.Helper()
	a, err := auth.New(auth.Config{Secret: []byte(edgeSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Mint(auth.Claims{Subject: subject, Documents: "*", Role: role, Expires: time.Now().Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// httpLoad edits doc through POST /v1/docs/{doc}/edits at httpRatePerDoc until stop: each edit
// sets the ledger key "http:<doc>:<n>" and inserts a character, and counts as acknowledged once
// answered 200 (the server answers once the edit is durable).
func (h *crashHarness) httpLoad(doc string) {
	defer h.loadWG.Done()
	tick := time.NewTicker(time.Second / httpRatePerDoc)
	defer tick.Stop()
	hc := &http.Client{Timeout: 5 * time.Second}
	for n := 0; ; n++ {
		select {
		case <-h.stop:
			return
		case <-tick.C:
		}
		if h.paused.Load() {
			continue
		}
		key := fmt.Sprintf("http:%s:%d", doc, n)
		body := fmt.Sprintf(`{"root":%q,"edits":[{"index":0,"insert":"h"}],"map":{"root":%q,"set":{%q:1}}}`, textRoot, ledgerRoot, key)
		req, err := http.NewRequest(http.MethodPost, "http://"+h.addr+"/v1/docs/"+doc+"/edits", strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if h.httpTok != "" {
			req.Header.Set("Authorization", "Bearer "+h.httpTok)
		}
		h.httpBusy.Add(1)
		resp, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == http.StatusOK {
			h.httpMu.Lock()
			h.httpAcked[doc] = append(h.httpAcked[doc], key)
			h.httpMu.Unlock()
		} else {
			h.httpFailed.Add(1)
		}
		h.httpBusy.Add(-1)
	}
}

// load edits at crashRatePerClient until stop: each edit sets the ledger key "<client>:<clock>"
// and inserts or deletes a little text.
func (h *crashHarness) load(cc *crashClient, rng *rand.Rand) {
	defer h.loadWG.Done()
	tick := time.NewTicker(time.Second / crashRatePerClient)
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-tick.C:
		}
		if h.paused.Load() {
			continue
		}
		clock := cc.c.Clock()
		key := strconv.FormatUint(cc.c.ClientID(), 10) + ":" + strconv.FormatUint(clock, 10)
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
			continue
		}
		cc.mu.Lock()
		cc.ops = append(cc.ops, crashOp{key: key, end: cc.c.Clock()})
		cc.mu.Unlock()
		h.ops.Add(1)
	}
}

var listeningLine = regexp.MustCompile(`msg=listening`)

// start runs the server on h.addr and h.data and waits until it listens.
func (h *crashHarness) start() {
	h.t.Helper()
	logFile, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command(h.bin, "serve", "--addr", h.addr, "--data", h.data, "--log-level", "info")
	if h.opts.batchDelay != "" {
		cmd.Args = append(cmd.Args, "--storage-max-batch-delay", h.opts.batchDelay)
	}
	if h.opts.auth {
		cmd.Env = append(os.Environ(), "TANDEM_AUTH_SECRET="+edgeSecret)
	}
	cmd.Stdout = logFile
	stderr, err := cmd.StderrPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.srv = cmd
	h.exited = make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			if !once && listeningLine.MatchString(sc.Text()) {
				once = true
				close(ready)
			}
		}
		h.exited <- cmd.Wait()
		logFile.Close()
	}()
	select {
	case <-ready:
	case err := <-h.exited:
		h.exited <- err
		h.t.Fatalf("server exited before listening: %v\n%s", err, h.logTail())
	case <-time.After(15 * time.Second):
		h.t.Fatalf("server did not listen within 15 s\n%s", h.logTail())
	}
}

func (h *crashHarness) logTail() string {
	b, _ := os.ReadFile(h.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// cycle runs the load for 1-3 s, kills the server, checks the file, restarts the server, checks
// that every acknowledged edit is there, lets the clients reconnect and checks they converge.
func (h *crashHarness) cycle(n int) cycleResult {
	h.t.Helper()
	time.Sleep(time.Second + time.Duration(rand.Int64N(int64(2*time.Second))))

	// Close the gate first, so that no client reconnects before the audit: a reconnecting client
	// re-sends what the server lacks, which would hide a loss.
	h.gate.close()
	for _, cc := range h.clients { // forget earlier status changes (a slow-consumer close...)
		for len(cc.status) > 0 {
			<-cc.status
		}
	}
	if err := h.srv.Process.Kill(); err != nil {
		h.t.Fatalf("kill: %v", err)
	}
	<-h.exited
	h.waitDisconnected()
	// Acks read before the socket's end count: the server sent them, so it claimed durability.
	required := map[string][]string{} // doc -> keys acknowledged
	acked := 0
	for _, cc := range h.clients {
		saved := cc.c.Saved()
		cc.mu.Lock()
		for _, op := range cc.ops {
			if op.end <= saved {
				required[cc.doc] = append(required[cc.doc], op.key)
				acked++
			}
		}
		cc.mu.Unlock()
	}
	h.httpMu.Lock()
	for doc, keys := range h.httpAcked {
		required[doc] = append(required[doc], keys...)
		acked += len(keys)
	}
	h.httpMu.Unlock()

	st, err := storage.Open(h.data, storage.Options{LockTimeout: 2 * time.Second})
	if err != nil {
		h.t.Fatalf("cycle %d: open the data file after SIGKILL: %v", n, err)
	}
	if err := st.Check(); err != nil {
		h.t.Fatalf("cycle %d: storage Check after SIGKILL: %v", n, err)
	}
	if err := st.Close(); err != nil {
		h.t.Fatal(err)
	}

	h.start()
	res := cycleResult{acked: acked}
	for doc, keys := range required {
		ledger := h.audit(doc)
		for _, k := range keys {
			if !ledger[k] {
				res.missing++
				if res.firstMissing == "" {
					res.firstMissing = doc + "/" + k
				}
			}
		}
	}
	h.gate.open()
	if res.missing > 0 {
		return res
	}
	h.waitReconnected()
	h.checkConverged(n)
	h.checkNoTerminal(n)
	h.t.Logf("cycle %d: %d edits so far, %d acknowledged before the kill, all present; replicas converged", n, h.ops.Load(), acked)
	return res
}

// waitDisconnected waits (bounded) until every client has seen its socket end.
func (h *crashHarness) waitDisconnected() {
	deadline := time.After(5 * time.Second)
	for _, cc := range h.clients {
		for done := false; !done; {
			select {
			case s := <-cc.status:
				done = s == client.StatusDisconnected
			case <-deadline:
				h.t.Fatalf("clients did not see the server die within 5 s")
			}
		}
	}
}

// waitReconnected waits (bounded) until every client is connected again.
func (h *crashHarness) waitReconnected() {
	deadline := time.After(15 * time.Second)
	for _, cc := range h.clients {
		for done := false; !done; {
			select {
			case s := <-cc.status:
				done = s == client.StatusConnected
			case <-deadline:
				h.t.Fatalf("clients did not reconnect within 15 s\n%s", h.logTail())
			}
		}
	}
}

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
	h.paused.Store(true)
	defer h.paused.Store(false)
	time.Sleep(2 * time.Second / crashRatePerClient) // let an edit in progress finish
	for wait := time.Now().Add(10 * time.Second); h.httpBusy.Load() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(wait) {
			h.t.Fatalf("cycle %d: HTTP edits still in flight after 10 s", n)
		}
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

func (h *crashHarness) httpAckedCount() int {
	h.httpMu.Lock()
	defer h.httpMu.Unlock()
	n := 0
	for _, keys := range h.httpAcked {
		n += len(keys)
	}
	return n
}

// finish stops the load, checks convergence a last time and stops the server gracefully.
func (h *crashHarness) finish() {
	h.t.Helper()
	h.checkConverged(-1)
	h.checkNoTerminal(-1)
	h.checkStateVectorSize()
	close(h.stop)
	h.loadWG.Wait()
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

// cleanup kills what is left (after a failure).
func (h *crashHarness) cleanup() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	h.loadWG.Wait()
	h.gate.open()
	for _, cc := range h.clients {
		cc.c.Close()
	}
	if h.srv != nil && h.srv.ProcessState == nil {
		_ = h.srv.Process.Kill()
		select {
		case <-h.exited:
		case <-time.After(5 * time.Second):
		}
	}
}

// dialGate holds the clients' connection attempts while closed: the harness audits a restarted
// server before any client can reconnect and re-send what it lacks.
type dialGate struct {
	mu     sync.Mutex
	opened chan struct{} // closed while the gate is open
}

func newDialGate() *dialGate {
	g := &dialGate{opened: make(chan struct{})}
	close(g.opened)
	return g
}

func (g *dialGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.opened:
		g.opened = make(chan struct{})
	default:
	}
}

func (g *dialGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.opened:
	default:
		close(g.opened)
	}
}

func (g *dialGate) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	ch := g.opened
	g.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
