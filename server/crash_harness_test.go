package server_test

// The crash test's harness (the tests are in crash_test.go): the server binary as a child process,
// its clients, the kill-and-restart cycle, and the gate on the clients' dials. The clients' load,
// which the cluster's kill test runs too, is in killload_test.go.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/server"
	"github.com/tandemhq/tandem/storage"
)

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
	editLoad
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

func newCrashClient(doc string) *crashClient {
	return &crashClient{doc: doc, status: make(chan client.Status, 64)}
}

// dial connects cc to url as a reconnecting editor of cc.doc, through dialer and with token (if
// any); handshake bounds each handshake, and the first connection may take two of them.
func (cc *crashClient) dial(url, token string, dialer *websocket.Dialer, handshake time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*handshake)
	defer cancel()
	c, err := client.Dial(ctx, url, cc.doc, client.Options{
		Token:     token,
		Reconnect: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		HandshakeTimeout: handshake, Dialer: dialer,
		OnStatus: cc.onStatus,
	})
	if err != nil {
		return err
	}
	cc.c = c
	return nil
}

// onStatus is the client's OnStatus: it keeps the first terminal close, notes the status, and
// offers it on cc.status without blocking.
func (cc *crashClient) onStatus(s client.Status, err error) {
	var ce *client.CloseError
	if errors.As(err, &ce) && ce.Code.Terminal() {
		cc.terminal.CompareAndSwap(nil, ce)
	}
	cc.noteStatus(s, err)
	select {
	case cc.status <- s:
	default:
	}
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

// freeAddr returns a loopback address that was free a moment ago, for a server that the test
// starts on it, and may kill and start again on it.
func freeAddr(t *testing.T) string {
	t.Helper()
	// A port the kernel picks (":0") is one of its ephemeral ports, which outgoing connections
	// take too, this test's and those of the packages tested beside it: one could take the port
	// between the check and the server's start, or between a kill and the restart on the same
	// address. Below that range only a listener takes a port.
	if lo := ephemeralLow(); lo > freePortFloor+1000 {
		for range 100 {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", freePortFloor+rand.IntN(lo-freePortFloor)))
			if err == nil {
				defer l.Close()
				return l.Addr().String()
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// freePortFloor is the lowest port freeAddr picks below the ephemeral range.
const freePortFloor = 10000

// ephemeralLow returns the first port of the kernel's ephemeral range, or 0 where it cannot
// tell.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return lo
}

func newCrashHarness(t *testing.T, tags string, opts crashOptions) *crashHarness {
	t.Helper()
	dir := t.TempDir()
	h := &crashHarness{
		t:        t,
		opts:     opts,
		bin:      buildServer(t, tags),
		data:     filepath.Join(dir, "crash.db"),
		addr:     freeAddr(t),
		logPath:  filepath.Join(dir, "server.log"),
		gate:     newDialGate(),
		editLoad: newEditLoad(),
	}
	if opts.auth {
		h.audTok = crashToken(t, "auditor", auth.RoleRead)
		h.httpTok = crashToken(t, "http-writer", auth.RoleWrite)
	}
	t.Cleanup(h.cleanup)
	h.start()
	dialer := &websocket.Dialer{NetDialContext: h.gate.dial, HandshakeTimeout: 5 * time.Second}
	for i := 0; i < crashClients; i++ {
		cc := newCrashClient(fmt.Sprintf("crash-%d", i%crashDocs))
		var token string
		if opts.auth {
			token = crashToken(t, crashSubjects[(i/crashDocs)%len(crashSubjects)], auth.RoleWrite)
		}
		if err := cc.dial("ws://"+h.addr, token, dialer, 5*time.Second); err != nil {
			t.Fatalf("client %d: Dial: %v", i, err)
		}
		h.clients = append(h.clients, cc)
	}
	for i, cc := range h.clients {
		h.editor(cc, crashRatePerClient, rand.New(rand.NewPCG(uint64(i), 1)))
	}
	if opts.http {
		for d := 0; d < crashDocs; d++ {
			h.httpLoad(fmt.Sprintf("crash-%d", d))
		}
	}
	return h
}

// crashToken mints a token of subject with role on every document, with edgeSecret.
func crashToken(t *testing.T, subject string, role auth.Role) string {
	t.Helper()
	return server.MintWith(t, []byte(edgeSecret), auth.Claims{Subject: subject, Documents: "*", Role: role, Expires: time.Now().Add(24 * time.Hour)})
}

// killEditBody is the JSON of the n-th edit of a kill test's HTTP writer: it sets the ledger key
// and inserts text at the start of the text, every other time bold and every seventh time a
// paragraph marker instead, so that rich edits take the same path to the log as plain ones.
func killEditBody(n int, text, key string) string {
	edits := fmt.Sprintf(`{"index":0,"insert":%q}`, text)
	switch {
	case n%7 == 6:
		edits = `{"index":0,"embed":{"block":"paragraph"}}`
	case n%2 == 1:
		edits += fmt.Sprintf(`,{"index":0,"length":%d,"format":{"bold":true}}`, utf8.RuneCountInString(text))
	}
	return editBody(edits, key)
}

// plainEditBody is the JSON of an HTTP edit that inserts text at the start and sets the ledger key.
func plainEditBody(text, key string) string {
	return editBody(fmt.Sprintf(`{"index":0,"insert":%q}`, text), key)
}

func editBody(edits, key string) string {
	return fmt.Sprintf(`{"root":%q,"edits":[%s],"map":{"root":%q,"set":{%q:1}}}`, textRoot, edits, ledgerRoot, key)
}

// httpLoad starts doc's HTTP writer: httpRatePerDoc edits a second through POST
// /v1/docs/{doc}/edits, each of which sets the ledger key "http:<doc>:<n>" and inserts a
// character (killEditBody), and is acknowledged once answered 200 (the server answers once the
// edit is durable).
func (h *crashHarness) httpLoad(doc string) {
	hc := &http.Client{Timeout: 5 * time.Second}
	h.every(httpRatePerDoc, func(n int) {
		key := fmt.Sprintf("http:%s:%d", doc, n)
		h.httpEdit(doc, key, func() bool { return postLedgerEdit(h.t, hc, h.addr, h.httpTok, doc, killEditBody(n, "h", key)) })
	})
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
	h.srv = cmd
	h.exited = startListening(h.t, cmd, logFile, h.logTail)
}

// startListening starts cmd, a tandem server, with its output copied to logFile, and returns
// once its log says it is listening; the channel receives cmd.Wait's result when it exits. tail
// gives the end of the log for a failure message.
func startListening(t *testing.T, cmd *exec.Cmd, logFile *os.File, tail func() string) chan error {
	t.Helper()
	cmd.Stdout = logFile
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
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
		exited <- cmd.Wait()
		logFile.Close()
	}()
	select {
	case <-ready:
	case err := <-exited:
		exited <- err
		t.Fatalf("server exited before listening: %v\n%s", err, tail())
	case <-time.After(15 * time.Second):
		t.Fatalf("server did not listen within 15 s\n%s", tail())
	}
	return exited
}

func (h *crashHarness) logTail() string { return fileTail(h.logPath) }

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
		if _, keys := cc.acked(); len(keys) > 0 {
			required[cc.doc] = append(required[cc.doc], keys...)
			acked += len(keys)
		}
	}
	acked += h.addHTTPAcked(required)

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
	if late := awaitStatus(h.clients, client.StatusDisconnected, 5*time.Second); len(late) > 0 {
		h.t.Fatalf("%d clients did not see the server die within 5 s", len(late))
	}
}

// waitReconnected waits (bounded) until every client is connected again.
func (h *crashHarness) waitReconnected() {
	if late := awaitStatus(h.clients, client.StatusConnected, 15*time.Second); len(late) > 0 {
		h.t.Fatalf("%d clients did not reconnect within 15 s\n%s", len(late), h.logTail())
	}
}

// cleanup kills what is left (after a failure).
func (h *crashHarness) cleanup() {
	h.stopLoad()
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
