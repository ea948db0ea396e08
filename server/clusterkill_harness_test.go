//go:build linux

package server_test

// The harness of TestClusterKill9 (clusterkill_test.go): three NATS servers (the test binary
// started again as TestClusterKillNATSServer) and three tandem nodes (the tandem binary with
// --cluster), each a child process the harness kills with SIGKILL and starts again on the same
// ports and storage; WebSocket editors that reconnect to a live node when theirs dies; HTTP
// writers (their load is the crash test's, killload_test.go); and the audits against the stream,
// read with storage/jetstream directly.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/storage/backend"
	"github.com/tandemhq/tandem/storage/jetstream"
)

const (
	killNodes = 3 // tandem nodes, and NATS servers
	killDocs  = 3
	// killEditors: editor i's home node is i%killNodes and its document (i/killNodes)%killDocs,
	// so that every document has an editor on every node.
	killEditors        = 9
	killRatePerEditor  = 15 // edits per second per editor
	killHTTPRatePerDoc = 5  // HTTP edits per second per document, spread over the nodes
	killPrefix         = "tandemkill"
	// killCompactEntries is the nodes' --compact-log-entries: compactions race with the kills.
	killCompactEntries = "300"
)

// killProc is one child process: a NATS server or a tandem node.
type killProc struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has exited and err is set
	err     error         // cmd.Wait's result
}

// watch records the result that exited receives, then closes done.
func (p *killProc) watch(exited <-chan error) {
	p.done = make(chan struct{})
	go func() {
		p.err = <-exited
		close(p.done)
	}()
}

// wait waits up to d for the process to exit and reports whether it has.
func (p *killProc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	default:
	}
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// kill sends SIGKILL and waits (bounded) for the process to end.
func (p *killProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill %d: %v", p.cmd.Process.Pid, err)
	}
	if !p.wait(10 * time.Second) {
		t.Fatalf("process %d still running 10 s after SIGKILL", p.cmd.Process.Pid)
	}
}

// killEditor is one WebSocket editor: a crash-test client with a home node.
type killEditor struct {
	*crashClient
	home int
	node atomic.Int32 // the node its latest connection went to
}

// killHarness owns the processes, the load and the test's own connection to the stream.
type killHarness struct {
	t         *testing.T
	dir       string
	bin       string
	natsSpecs []natsdSpec
	natsURLs  string
	nats      []*killProc
	nodeAddrs []string
	nodes     []*killProc

	gate    *dialGate
	editors []*killEditor
	editLoad

	nc   *nats.Conn
	js   natsjs.JetStream
	docs *backend.Docs

	latMu      sync.Mutex
	httpLat    []time.Duration // the acknowledged HTTP edits' latencies
	cycleStart int             // the index in httpLat where the current cycle starts
}

func killDoc(i int) string { return fmt.Sprintf("kill-%d", i) }

// identDoc is the document that only node k's HTTP edits write to (checkIdentity).
func identDoc(k int) string { return fmt.Sprintf("ident-n%d", k) }

// auditedDocs are the documents the audits read: the editors' and the identity documents.
func auditedDocs() []string {
	var docs []string
	for d := range killDocs {
		docs = append(docs, killDoc(d))
	}
	for k := range killNodes {
		docs = append(docs, identDoc(k))
	}
	return docs
}

// newKillHarness starts the processes, the editors and the load; tags are the build tags of the
// tandem binary.
func newKillHarness(t *testing.T, tags string) *killHarness {
	t.Helper()
	h := &killHarness{
		t:        t,
		dir:      t.TempDir(),
		bin:      buildServer(t, tags),
		gate:     newDialGate(),
		editLoad: newEditLoad(),
		nats:     make([]*killProc, killNodes),
		nodes:    make([]*killProc, killNodes),
	}
	t.Cleanup(h.cleanup)

	// A port found free can be taken by another process before its NATS server binds it (go test
	// runs packages side by side): the cluster then never forms, so a second try takes new ports.
	for try := 1; ; try++ {
		err := h.formNATS(try)
		if err == nil {
			break
		}
		if try == 2 {
			t.Fatal(err)
		}
		t.Logf("the NATS cluster did not form (%v); once more on new ports", err)
		for _, p := range h.nats {
			if p != nil && !p.wait(0) {
				p.kill(t)
			}
		}
	}
	h.openStream()

	for range killNodes {
		h.nodeAddrs = append(h.nodeAddrs, freeAddr(t))
	}
	for i := range killNodes {
		h.startTandem(i)
	}
	for i := range killNodes {
		h.checkIdentity(i)
	}

	for i := range killEditors {
		e := &killEditor{crashClient: newCrashClient(killDoc((i / killNodes) % killDocs)), home: i % killNodes}
		dialer := &websocket.Dialer{NetDialContext: h.dialLive(e), HandshakeTimeout: 10 * time.Second}
		if err := e.dial("ws://"+h.nodeAddrs[e.home], "", dialer, 10*time.Second); err != nil {
			t.Fatalf("editor %d: Dial: %v", i, err)
		}
		h.editors = append(h.editors, e)
	}
	for i, e := range h.editors {
		h.editor(e.crashClient, killRatePerEditor, rand.New(rand.NewPCG(uint64(i), 15)))
	}
	for d := range killDocs {
		h.httpLoad(killDoc(d), func(n int, key string) string { return killEditBody(n, "h", key) }, func(n int) int { return (n + d) % killNodes })
		// Node d's identity document, written through node d alone, so that a kill finds an
		// HTTP edit of its in flight: two characters an edit (checkIdentity).
		h.httpLoad(identDoc(d), func(_ int, key string) string { return plainEditBody("hh", key) }, func(int) int { return d })
	}
	return h
}

// formNATS starts the NATS servers on new ports, with new stores, and waits until each one
// reports healthy.
func (h *killHarness) formNATS(try int) error {
	h.t.Helper()
	clientPorts, routePorts := freePortList(h.t, killNodes), freePortList(h.t, killNodes)
	var routes, urls []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	h.natsSpecs = nil
	for i := range killNodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]))
		h.natsSpecs = append(h.natsSpecs, natsdSpec{
			Name: fmt.Sprintf("s%d", i), Port: clientPorts[i], RoutePort: routePorts[i], Routes: routes,
			Store: filepath.Join(h.dir, fmt.Sprintf("s%d-%d", i, try)),
		})
	}
	h.natsURLs = strings.Join(urls, ",")
	var healthy []chan struct{}
	for i := range killNodes {
		healthy = append(healthy, h.startNATS(i))
	}
	for i, ch := range healthy {
		if err := h.healthyWithin(i, ch, 90*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// freePortList returns n loopback ports that were free a moment ago.
func freePortList(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		_, p, err := net.SplitHostPort(freeAddr(t))
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		ports = append(ports, port)
	}
	return ports
}

// child prepares a child process that dies with the test process (Pdeathsig), whatever ends it.
func child(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// startNATS starts NATS server i (again); the channel is closed once it reports healthy.
func (h *killHarness) startNATS(i int) chan struct{} {
	h.t.Helper()
	spec, err := json.Marshal(h.natsSpecs[i])
	if err != nil {
		h.t.Fatal(err)
	}
	p := &killProc{logPath: filepath.Join(h.dir, fmt.Sprintf("s%d.log", i))}
	exited := make(chan error, 1)
	p.watch(exited)
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	p.cmd = child(os.Args[0], "-test.run=^TestClusterKillNATSServer$", "-test.timeout=3h")
	p.cmd.Env = append(os.Environ(), natsdEnv+"="+string(spec))
	p.cmd.Stderr = logFile
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	healthy := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := false
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			if !once && sc.Text() == "natsd healthy" {
				once = true
				close(healthy)
			}
		}
		err := p.cmd.Wait()
		logFile.Close()
		exited <- err
	}()
	h.nats[i] = p
	return healthy
}

// waitHealthy waits (bounded) until NATS server i reports healthy.
func (h *killHarness) waitHealthy(i int, ch chan struct{}) {
	h.t.Helper()
	if err := h.healthyWithin(i, ch, 90*time.Second); err != nil {
		h.t.Fatal(err)
	}
}

// healthyWithin waits up to d until NATS server i reports healthy, or says why it did not.
func (h *killHarness) healthyWithin(i int, ch chan struct{}, d time.Duration) error {
	select {
	case <-ch:
		return nil
	case <-h.nats[i].done:
		return fmt.Errorf("NATS server s%d exited before it was healthy: %v\n%s", i, h.nats[i].err, fileTail(h.nats[i].logPath))
	case <-time.After(d):
		return fmt.Errorf("NATS server s%d not healthy within %v\n%s", i, d, fileTail(h.nats[i].logPath))
	}
}

// openStream connects the test itself to the NATS servers and opens the backend the nodes use,
// for the audits.
func (h *killHarness) openStream() {
	h.t.Helper()
	// The connection's errors (its server killed) are expected: it reconnects to another. Without
	// a handler, nats.go prints each one.
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	nc, err := nats.Connect(h.natsURLs, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true), quiet)
	if err != nil {
		h.t.Fatalf("nats.Connect: %v", err)
	}
	h.nc = nc
	js, err := natsjs.New(nc)
	if err != nil {
		h.t.Fatal(err)
	}
	h.js = js
	var last error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b, err := jetstream.Open(ctx, js, jetstream.Config{Prefix: killPrefix})
		cancel()
		if err == nil {
			h.docs = backend.NewDocs(b.Set(), nil)
			return
		}
		last = err
	}
	h.t.Fatalf("jetstream.Open: %v", last)
}

// startTandem starts tandem node i (again) with its node ID, address and data path, and waits
// (bounded) until /readyz answers 200.
func (h *killHarness) startTandem(i int) {
	h.t.Helper()
	p := &killProc{logPath: filepath.Join(h.dir, fmt.Sprintf("n%d.log", i))}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	p.cmd = child(h.bin, "serve", "--addr", h.nodeAddrs[i], "--data", filepath.Join(h.dir, fmt.Sprintf("n%d.db", i)),
		"--cluster", h.natsURLs, "--node-id", fmt.Sprintf("n%d", i), "--nats-prefix", killPrefix,
		"--compact-log-entries", killCompactEntries, "--log-level", "info", "--shutdown-timeout", "15s")
	p.cmd.Env = append(os.Environ(), "TANDEM_NATS_ENTRY_KEY=the kill test nodes' entry key, 32 bytes") // the nodes sign their entries
	p.watch(startListening(h.t, p.cmd, logFile, func() string { return fileTail(p.logPath) }))
	h.nodes[i] = p
	url := "http://" + h.nodeAddrs[i] + "/readyz"
	hc := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("node n%d: /readyz not 200 within 60 s\n%s", i, fileTail(p.logPath))
		}
	}
}

// dialLive dials e's home node, or the next node that accepts, once the gate is open: the
// load balancer of a real deployment.
func (h *killHarness) dialLive(e *killEditor) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var last error
		for k := range killNodes {
			n := (e.home + k) % killNodes
			c, err := h.gate.dial(ctx, network, h.nodeAddrs[n])
			if err == nil {
				e.node.Store(int32(n))
				return c, nil
			}
			last = err
			if ctx.Err() != nil {
				break
			}
		}
		return nil, last
	}
}

// httpLoad starts doc's HTTP writer: killHTTPRatePerDoc edits a second through POST
// /v1/docs/{id}/edits, request n to node nodeFor(n) with body(n, key); each edit sets the ledger
// key "http:<doc>:<n>" (rich edits on the shared documents, plain ones on a node's identity
// document, whose check counts characters), and is acknowledged once answered 200.
func (h *killHarness) httpLoad(doc string, body func(n int, key string) string, nodeFor func(n int) int) {
	hc := &http.Client{Timeout: 10 * time.Second}
	h.every(killHTTPRatePerDoc, func(n int) {
		key := fmt.Sprintf("http:%s:%d", doc, n)
		took, ok := h.httpEdit(doc, key, func() bool { return postLedgerEdit(h.t, hc, h.nodeAddrs[nodeFor(n)], "", doc, body(n, key)) })
		if ok {
			h.latMu.Lock()
			h.httpLat = append(h.httpLat, took)
			h.latMu.Unlock()
		}
	})
}

// typeFor lets the load run for d.
func (h *killHarness) typeFor(d time.Duration) { time.Sleep(d) }

// killTandem kills tandem node k with SIGKILL under load, audits the stream before any of its
// editors may reconnect, and starts it again with its node ID. It returns the audit's finding:
// empty if every acknowledged edit is in the stream, else what is missing.
func (h *killHarness) killTandem(n, k int) (loss string) {
	h.t.Helper()
	h.typeFor(time.Second + rand.N(time.Second))
	h.gate.close()
	var on []*killEditor
	for _, e := range h.editors {
		for len(e.status) > 0 {
			<-e.status
		}
		if int(e.node.Load()) == k {
			on = append(on, e)
		}
	}
	h.nodes[k].kill(h.t)
	// Acks read before the socket's end count: the node sent them, so it claimed durability.
	var onClients []*crashClient
	for _, e := range on {
		onClients = append(onClients, e.crashClient)
	}
	for _, cc := range awaitStatus(onClients, client.StatusDisconnected, 10*time.Second) {
		h.t.Logf("cycle %d: editor %d did not see node n%d die within 10 s", n, cc.c.ClientID(), k)
	}
	if _, loss = h.lost(); loss != "" {
		return fmt.Sprintf("after the kill of n%d, before its %d editors reconnect: %s", k, len(on), loss)
	}
	h.startTandem(k)
	h.checkIdentity(k)
	h.gate.open()
	h.typeFor(time.Second)
	return ""
}

// killNATS kills a NATS server with SIGKILL under load — the update stream's leader if leader
// is set, else one of its followers, chosen by turn — lets the load run on the other two, audits
// the stream on them, and starts the server again on its store. It describes the server it
// killed.
func (h *killHarness) killNATS(n int, leader bool, turn int) (killed string) {
	h.t.Helper()
	h.typeFor(time.Second + rand.N(time.Second))
	k, role := h.natsVictim(leader, turn)
	killed = fmt.Sprintf("NATS server s%d (%s)", k, role)
	h.nats[k].kill(h.t)
	h.typeFor(time.Second + rand.N(time.Second))
	h.audit(n, fmt.Sprintf("with s%d down", k)) // two servers hold everything acknowledged
	h.waitHealthy(k, h.startNATS(k))
	h.typeFor(time.Second)
	return killed
}

// natsVictim picks the NATS server to kill: the update stream's leader, or the turn-th of its
// followers; with the leader unknown, server turn%killNodes.
func (h *killHarness) natsVictim(leader bool, turn int) (k int, role string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := h.js.Stream(ctx, killPrefix+"_updates")
	if err != nil {
		return turn % killNodes, fmt.Sprintf("the stream's leader unknown: %v", err)
	}
	name := ""
	if ci := st.CachedInfo().Cluster; ci != nil {
		name = ci.Leader
	}
	var followers []int
	for i, spec := range h.natsSpecs {
		if spec.Name == name {
			k = i
		} else {
			followers = append(followers, i)
		}
	}
	switch {
	case len(followers) == killNodes:
		return turn % killNodes, "the stream without a leader"
	case leader:
		return k, "the update stream's leader"
	default:
		return followers[turn%len(followers)], "a follower of the update stream"
	}
}

// ackedEdits is what was acknowledged at one moment: every editor's saved clock, and the ledger
// keys of every acknowledged edit, per document.
type ackedEdits struct {
	saved map[string]map[uint64]uint64 // doc -> client -> saved clock
	keys  map[string][]string          // doc -> ledger keys
	count int
}

func (h *killHarness) acked() ackedEdits {
	a := ackedEdits{saved: map[string]map[uint64]uint64{}, keys: map[string][]string{}}
	for _, e := range h.editors {
		saved, keys := e.acked()
		if a.saved[e.doc] == nil {
			a.saved[e.doc] = map[uint64]uint64{}
		}
		a.saved[e.doc][e.c.ClientID()] = saved
		if len(keys) > 0 {
			a.keys[e.doc] = append(a.keys[e.doc], keys...)
			a.count += len(keys)
		}
	}
	a.count += h.addHTTPAcked(a.keys)
	return a
}

// rebuild loads doc from the stream alone (its snapshot and the log after it) into a fresh
// replica.
// A read made right after a NATS server's death may wait for the leaders it held to be elected
// again: each attempt is bounded by 3 s, and they go on for a minute.
func (h *killHarness) rebuild(doc string) *crdt.Doc {
	h.t.Helper()
	var st backend.State
	start := time.Now()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		var err error
		st, err = h.docs.Load(ctx, doc)
		cancel()
		if err == nil {
			if attempt > 1 {
				h.t.Logf("load %q from the stream: answered after %d attempts, %s", doc, attempt, time.Since(start).Round(100*time.Millisecond))
			}
			break
		}
		if time.Since(start) > time.Minute {
			h.t.Fatalf("load %q from the stream: %d attempts in %s, the last: %v", doc, attempt, time.Since(start).Round(time.Second), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d, err := crdt.NewDoc(crdt.MaxClientID, crdt.Config{})
	if err != nil {
		h.t.Fatal(err)
	}
	if st.Snapshot != nil {
		if _, err := d.Apply(st.Snapshot); err != nil {
			h.t.Fatalf("apply the snapshot of %q: %v", doc, err)
		}
	}
	for _, e := range st.Entries {
		if _, err := d.Apply(e.Data); err != nil {
			h.t.Fatalf("apply entry %d of %q: %v", e.Seq, doc, err)
		}
	}
	return d
}

// audit checks that every edit acknowledged so far is in a replica rebuilt from the stream, and
// returns the replicas.
func (h *killHarness) audit(n int, when string) map[string]*crdt.Doc {
	h.t.Helper()
	rebuilt, loss := h.lost()
	if loss != "" {
		h.t.Fatalf("cycle %d, %s: %s", n, when, loss)
	}
	return rebuilt
}

// lost rebuilds every document from the stream and describes the first acknowledged edit
// missing from it ("" if none).
func (h *killHarness) lost() (rebuilt map[string]*crdt.Doc, loss string) {
	h.t.Helper()
	a := h.acked()
	rebuilt = map[string]*crdt.Doc{}
	for _, doc := range auditedDocs() {
		r := h.rebuild(doc)
		rebuilt[doc] = r
		sv := r.StateVector()
		for id, saved := range a.saved[doc] {
			if sv[id] < saved {
				return rebuilt, fmt.Sprintf("%s: client %d acknowledged up to clock %d; the stream holds %d", doc, id, saved, sv[id])
			}
		}
		ledger := map[string]bool{}
		for _, k := range r.Map(ledgerRoot).Keys() {
			ledger[k] = true
		}
		var missing []string
		for _, k := range a.keys[doc] {
			if !ledger[k] {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return rebuilt, fmt.Sprintf("%s: %d of %d acknowledged edits missing from the stream (first: %s)", doc, len(missing), len(a.keys[doc]), missing[0])
		}
	}
	return rebuilt, ""
}

// checkIdentity makes an HTTP edit through node k to identDoc(k), which only node k's HTTP edits
// write to (its writer runs throughout, so that a kill finds one in flight), and checks the
// stream's replica of it: one client ID, the node's, whatever the restarts, and two characters
// and one ledger key for every edit. A node started again after SIGKILL that reused clocks of
// its identity (an edit of its predecessor's stored after the restart's load, say) would find
// its edit and the earlier one under the same IDs: the replicas would keep one of the two, the
// stream's perhaps not the acknowledged one, which the audits report, and the nodes might differ,
// which settle reports.
func (h *killHarness) checkIdentity(k int) {
	h.t.Helper()
	doc := identDoc(k)
	key := fmt.Sprintf("check:%s:%d", doc, time.Now().UnixNano())
	hc := &http.Client{Timeout: 20 * time.Second}
	if !postLedgerEdit(h.t, hc, h.nodeAddrs[k], "", doc, plainEditBody("cc", key)) {
		h.t.Fatalf("node n%d: the identity edit to %s was not acknowledged\n%s", k, doc, fileTail(h.nodes[k].logPath))
	}
	h.ackHTTP(doc, key)
	r := h.rebuild(doc)
	keys := r.Map(ledgerRoot).Keys()
	if !slices.Contains(keys, key) {
		h.t.Fatalf("node n%d: the acknowledged identity edit %s is not in the stream's %s", k, key, doc)
	}
	if got, want := r.Text(textRoot).Len(), 2*len(keys); got != want {
		h.t.Fatalf("node n%d: %s holds %d characters and %d ledger keys; want two characters a key: an edit was written over in part", k, doc, got, len(keys))
	}
	if sv := r.StateVector(); len(sv) != 1 {
		h.t.Fatalf("node n%d: %s written under %d client IDs (state vector %v); want one: the node keeps its identity across restarts", k, doc, len(sv), sv)
	}
}

// settle pauses the load, waits until every edit is acknowledged, and checks: every acknowledged
// edit is in the replica rebuilt from the stream; every node serves that replica byte for byte;
// every editor holds it (the same text and encoded state); no editor was closed for good.
func (h *killHarness) settle(n int) {
	h.t.Helper()
	defer h.paused.Store(false)
	if err := h.quiesce(killRatePerEditor, 20*time.Second); err != nil {
		h.t.Fatalf("cycle %d: %v", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, e := range h.editors {
		if err := e.c.WaitSaved(ctx); err != nil {
			h.t.Fatalf("cycle %d: editor %d: WaitSaved: %v; %s\n%s", n, i, err, e.describe(), h.nodeTails())
		}
	}
	rebuilt := h.audit(n, "after the load settled")
	hc := &http.Client{Timeout: 10 * time.Second}
	for _, doc := range auditedDocs() {
		r := rebuilt[doc]
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			wantUpdate, wantSnap, wantText := r.EncodeUpdate(nil), r.EncodeSnapshot(), r.Text(textRoot).String()
			var differ []string
			for k := range killNodes {
				got, err := getUpdate(hc, h.nodeAddrs[k], doc)
				if err != nil || string(got) != string(wantUpdate) {
					differ = append(differ, fmt.Sprintf("node n%d serves %d bytes (%v); the stream's replica %d", k, len(got), err, len(wantUpdate)))
				}
			}
			for i, e := range h.editors {
				if e.doc != doc {
					continue
				}
				var snap []byte
				var text string
				e.c.Read(func(d *crdt.Doc) { snap, text = d.EncodeSnapshot(), d.Text(textRoot).String() })
				if text != wantText || string(snap) != string(wantSnap) {
					differ = append(differ, fmt.Sprintf("editor %d: %s", i, describeReplica(snap)))
				}
			}
			if len(differ) == 0 {
				break
			}
			if time.Now().After(deadline) {
				h.t.Fatalf("cycle %d: %s: not converged to the stream's replica (%s) within 30 s: %s\n%s", n, doc, describeReplica(wantSnap), strings.Join(differ, "; "), h.nodeTails())
			}
			r = h.rebuild(doc) // an append of a killed node's may still have landed
		}
	}
	for i, e := range h.editors {
		if ce := e.terminal.Load(); ce != nil {
			h.t.Fatalf("cycle %d: editor %d was closed with a terminal code: %v", n, i, ce)
		}
	}
}

// getUpdate reads doc's whole state from the node at addr (GET /v1/docs/{id}/update).
func getUpdate(hc *http.Client, addr, doc string) ([]byte, error) {
	resp, err := hc.Get("http://" + addr + "/v1/docs/" + doc + "/update")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET update: %d %s", resp.StatusCode, b)
	}
	return b, nil
}

// describeReplica describes an encoded state for a failure message.
func describeReplica(b []byte) string {
	d, err := crdt.NewDoc(crdt.MaxClientID, crdt.Config{})
	if err != nil {
		return err.Error()
	}
	if _, err := d.Apply(b); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d bytes, %d characters, state vector %v", len(b), d.Text(textRoot).Len(), d.StateVector())
}

func (h *killHarness) nodeTails() string {
	var s []string
	for _, p := range h.nodes {
		if p != nil {
			s = append(s, fileTail(p.logPath))
		}
	}
	return strings.Join(s, "\n")
}

// finish stops the load, closes the editors, and stops every process: the tandem nodes with
// SIGTERM first (each exits 0 once its documents are saved), then the NATS servers.
func (h *killHarness) finish() {
	h.t.Helper()
	h.stopLoad()
	var editErrs int64
	for _, e := range h.editors {
		editErrs += e.editErr.Load()
		e.c.Close()
	}
	for k, p := range h.nodes {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			h.t.Fatal(err)
		}
		if !p.wait(30 * time.Second) {
			h.t.Errorf("node n%d did not exit within 30 s of SIGTERM", k)
		} else if p.err != nil {
			h.t.Errorf("node n%d exit after SIGTERM: %v\n%s", k, p.err, fileTail(p.logPath))
		}
		h.nodes[k] = nil
	}
	h.latMu.Lock()
	lat := slices.Clone(h.httpLat)
	h.latMu.Unlock()
	h.t.Logf("%d edits in all (%d refused locally); HTTP: %d acknowledged (%s), %d failed",
		h.ops.Load(), editErrs, h.httpAckedCount(), latencies(lat), h.httpFailed.Load())
}

// cycleLatencies describes the latencies of the HTTP edits acknowledged since its last call.
func (h *killHarness) cycleLatencies() string {
	h.latMu.Lock()
	lat := slices.Clone(h.httpLat[h.cycleStart:])
	h.cycleStart = len(h.httpLat)
	h.latMu.Unlock()
	return latencies(lat)
}

// latencies describes lat: p50, p99 and the longest.
func latencies(lat []time.Duration) string {
	if len(lat) == 0 {
		return "none"
	}
	slices.Sort(lat)
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("latency p50 %v, p99 %v, max %v", ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(lat[len(lat)-1]))
}

// cleanup ends what is left (after a failure): the load, the editors, every process by its PID.
func (h *killHarness) cleanup() {
	h.stopLoad()
	h.gate.open()
	for _, e := range h.editors {
		e.c.Close()
	}
	for _, p := range append(append([]*killProc{}, h.nodes...), h.nats...) {
		if p == nil || p.wait(0) {
			continue
		}
		_ = p.cmd.Process.Kill()
		p.wait(5 * time.Second)
	}
	if h.nc != nil {
		h.nc.Close()
	}
}
