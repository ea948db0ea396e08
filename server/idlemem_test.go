//go:build linux

package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/rawws"
	"github.com/tandemhq/tandem/server/internal/room"
)

// The idle-connection measurement (docs/server.md, Connections). Its clients run in a child
// process (this test binary again, running TestIdleClients), so that the parent's heap holds the
// server's side only. Linux only: elsewhere every connection has a reader goroutine (no poller),
// and the figures are another story.
//
//	go test -run '^TestIdleConnHeap$' -v ./server/
//	TANDEM_IDLE_CONNS=5000 TANDEM_IDLE_HEAP_PROFILE=/tmp/idle.pprof go test -run '^TestIdleConnHeap$' -v ./server/
//
// The profile is written at the moment of the measurement, with every allocation sampled.

// Environment of the child process, which plays the clients.
const (
	envIdleAddr  = "TANDEM_IDLE_CLIENTS_ADDR"  // the server's host:port; the child runs only when set
	envIdleConns = "TANDEM_IDLE_CLIENTS_CONNS" // connections to open
	envIdleDocs  = "TANDEM_IDLE_CLIENTS_DOCS"  // documents to spread them over
	envIdleFirst = "TANDEM_IDLE_CLIENTS_FIRST" // the first client ID
)

// idleMemLimitBytes is what TestIdleConnHeap allows the live heap to grow by per idle connection
// joining open documents: about 10% above the measured figure (555 B), for noise, and below what
// a timer or an object more per connection would add.
const idleMemLimitBytes = 610

// TestIdleConnHeap measures the server's live heap per idle, synced connection: N real WebSocket
// connections over 127.0.0.1 to a server on a real storage file, spread over 100 documents, each
// of which sends hello, waits for the sync, sends its presence as the JavaScript client does, and
// then stays silent. The clients are raw sockets in a child process. The figure is the heap after
// two collections with the N connections, minus the heap with none, over N; a second figure
// counts only the second half of the connections, joining documents already open: what one more
// idle editor costs, checked against idleMemLimitBytes (without the race detector).
func TestIdleConnHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	n := 2000
	if v := os.Getenv("TANDEM_IDLE_CONNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 2 {
			t.Fatalf("TANDEM_IDLE_CONNS=%q: want a number of at least 2", v)
		}
	}
	const docs = 100
	profile := os.Getenv("TANDEM_IDLE_HEAP_PROFILE")
	if profile != "" {
		runtime.MemProfileRate = 1
	}
	cfg := testConfig(t)
	cfg.PongWait = 10 * time.Minute // no pings during the measurement: the clients answer none
	cfg.MaxConnsPerDocument = n
	ts := startServer(t, cfg, nil)
	addr := strings.TrimPrefix(ts.base, "http://")

	// The runtime keeps the descriptor of every goroutine that has ended, for reuse: the heap
	// holds one for each goroutine of the busiest moment so far. Joins come in bursts (a
	// presence fans out to every member of the document, which starts as many writers), and
	// what their peak leaves behind is not what an idle connection costs: make it part of the
	// baseline.
	warmGoroutines(2 * n)
	m0 := settledHeap()
	half := n / 2
	stopA := startIdleClients(t, addr, half, docs, 1000)
	waitIdle(t, ts, half, docs)
	m1 := settledHeap()
	stopB := startIdleClients(t, addr, n-half, docs, 1000+uint64(half))
	waitIdle(t, ts, n, docs)
	m2 := settledHeap()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("heap profile written to %s", profile)
	}

	all := m2.minus(m0).per(n)
	second := m2.minus(m1).per(n - half)
	t.Logf("%d idle connections over %d documents, per connection (documents included): %s", n, docs, all)
	t.Logf("the second %d, joining open documents, per connection: %s", n-half, second)
	if !raceEnabled && second.alloc > idleMemLimitBytes {
		t.Errorf("live heap per idle connection = %.0f B; want at most %d B", second.alloc, idleMemLimitBytes)
	}
	stopA()
	stopB()
	waitFor(t, 10*time.Second, "the connections closed", func() bool { return openConns(ts.Server) == 0 })
}

// warmGoroutines runs n goroutines at once and waits for them to end, so that the runtime keeps
// n goroutine descriptors for reuse.
func warmGoroutines(n int) {
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range n {
		wg.Go(func() { <-release })
	}
	close(release)
	wg.Wait()
}

// TestConnSize keeps a connection in the 352-byte size class of the allocator: every field added
// to conn past it costs each connection 32 bytes more (the next class is 384), idle or not. If a
// field is worth it, raise the bound and the figures in docs/server.md.
func TestConnSize(t *testing.T) {
	if got := unsafe.Sizeof(conn{}); got > 352 {
		t.Errorf("conn is %d bytes; want at most 352", got)
	}
}

// heapFigures is a reading of the heap.
type heapFigures struct {
	alloc, inuse, objects, goroutines float64
}

// settledHeap collects twice and reads the heap.
func settledHeap() heapFigures {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return heapFigures{
		alloc:      float64(ms.HeapAlloc),
		inuse:      float64(ms.HeapInuse),
		objects:    float64(ms.HeapObjects),
		goroutines: float64(runtime.NumGoroutine()),
	}
}

func (h heapFigures) minus(o heapFigures) heapFigures {
	return heapFigures{h.alloc - o.alloc, h.inuse - o.inuse, h.objects - o.objects, h.goroutines - o.goroutines}
}

func (h heapFigures) per(n int) heapFigures {
	f := float64(n)
	return heapFigures{h.alloc / f, h.inuse / f, h.objects / f, h.goroutines / f}
}

func (h heapFigures) String() string {
	return fmt.Sprintf("live heap %.0f B (HeapAlloc), in-use spans %.0f B (HeapInuse), %.2f objects, %.3f goroutines",
		h.alloc, h.inuse, h.objects, h.goroutines)
}

// startIdleClients starts a child process holding n idle clients over docs documents (client IDs
// from first on), waits until every one is synced, and returns the function that ends them.
func startIdleClients(t *testing.T, addr string, n, docs int, first uint64) (stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClients$", "-test.v")
	cmd.Env = append(os.Environ(),
		envIdleAddr+"="+addr,
		envIdleConns+"="+strconv.Itoa(n),
		envIdleDocs+"="+strconv.Itoa(docs),
		envIdleFirst+"="+strconv.FormatUint(first, 10),
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = stdin.Close() // the child closes its sockets and exits
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("idle clients: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("idle clients did not exit")
		}
	}
	t.Cleanup(stop)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		last := ""
		for sc.Scan() {
			last = sc.Text()
			if last == "idle clients ready" {
				ready <- last
				break
			}
		}
		ready <- last
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-ready:
		if line != "idle clients ready" {
			t.Fatalf("idle clients failed: %s", line)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("idle clients not ready after 2 minutes")
	}
	return stop
}

// waitIdle waits until the server holds n connections over docs documents, each joined with its
// presence received and sent on, and no connection has a goroutine running.
func waitIdle(t *testing.T, ts *testServer, n, docs int) {
	t.Helper()
	waitFor(t, time.Minute, fmt.Sprintf("%d connections", n), func() bool { return openConns(ts.Server) == n })
	for d := range docs {
		id := idleDocID(d)
		want := n/docs + btoi(d < n%docs)
		waitFor(t, time.Minute, id+" settled", func() bool {
			settled := false
			ts.inActor(t, id, func(a *actor) {
				settled = a.core.Members() == want && a.core.Presence().Len() == want && a.core.Presence().Pending() == 0 && a.timers[room.TimerAwareness] == nil
			})
			return settled
		})
	}
	waitFor(t, time.Minute, "no connection goroutines", func() bool { return connGoroutines() == 0 })
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func idleDocID(d int) string { return "idle-" + strconv.Itoa(d) }

// TestIdleClients is the child process of TestIdleConnHeap: it opens the connections its
// environment asks for, prints "idle clients ready" once every one is synced and has sent its
// presence, and holds them until its standard input ends. Run by itself, it does nothing.
func TestIdleClients(t *testing.T) {
	addr := os.Getenv(envIdleAddr)
	if addr == "" {
		t.Skip("the child process of TestIdleConnHeap")
	}
	n, _ := strconv.Atoi(os.Getenv(envIdleConns))
	docs, _ := strconv.Atoi(os.Getenv(envIdleDocs))
	first, _ := strconv.ParseUint(os.Getenv(envIdleFirst), 10, 64)
	if n < 1 || docs < 1 || first < 1 {
		fmt.Println("bad environment")
		t.Fatal("bad environment")
	}
	conns := make([]*rawws.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		fmt.Println(msg)
		t.Fatal(msg)
	}
	for i := range n {
		id := first + uint64(i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := rawws.Dial(ctx, addr, "/v1/docs/"+idleDocID(i%docs)+"/ws", nil)
		cancel()
		if err != nil {
			fail("client %d: %v", id, err)
		}
		conns = append(conns, c)
		hello := protocol.EncodeFrame(0, &protocol.Hello{Version: protocol.Version, ClientID: id})
		if err := c.WriteFrame(rawws.Frame{Fin: true, Opcode: rawws.OpBinary, Payload: hello}); err != nil {
			fail("client %d: hello: %v", id, err)
		}
		for synced := false; !synced; {
			f, err := c.ReadFrame(10 * time.Second)
			if err != nil {
				fail("client %d: waiting for the sync: %v", id, err)
			}
			if f.Opcode != rawws.OpBinary {
				continue
			}
			m, err := protocol.DecodeFrame(f.Payload, protocol.FromServer)
			if err != nil {
				fail("client %d: %v", id, err)
			}
			synced = m.Message.Type() == protocol.TypeSync
		}
		// The presence the JavaScript client announces once synced (the bench's, cmd/tandem).
		state := fmt.Appendf(nil, `{"user":{"name":"u%d","color":"#30bced"}}`, id)
		aw := protocol.EncodeFrame(0, &protocol.Awareness{Clock: 1, State: state})
		if err := c.WriteFrame(rawws.Frame{Fin: true, Opcode: rawws.OpBinary, Payload: aw}); err != nil {
			fail("client %d: awareness: %v", id, err)
		}
	}
	fmt.Println("idle clients ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}
