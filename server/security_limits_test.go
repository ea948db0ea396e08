package server

// The security tests of resource limits on connections, messages and requests: T-SEC-13, T-SEC-06,
// T-SEC-07 and T-SEC-10 (helpers in security_helpers_test.go).

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/rawws"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// T-SEC-13.
func TestConnectionLimits(t *testing.T) {
	cfg := secConfig(t, nil)
	cfg.MaxConnsPerDocument = 3
	cfg.MaxConnsPerSubject = 4
	ts := startServer(t, cfg, nil)

	// Per document: the fourth connection is refused with 1013 and a message.
	var eds []*wstest.Editor
	for i := range 3 {
		eds = append(eds, ts.joinAs(t, "crowd", uint64(81+i), mint(t, "user"+string(rune('a'+i)), "crowd", auth.RoleWrite, time.Hour)))
	}
	c, _, err := wstest.Dial(context.Background(), ts.base, "crowd", wstest.DialOptions{Header: bearer(mint(t, "userd", "crowd", auth.RoleWrite, time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello(84, nil, 0); err != nil {
		t.Fatal(err)
	}
	cl := expectRefusal(t, c, protocol.CloseTryAgainLater, "fourth connection to a document")
	if !strings.Contains(cl.Message.Message, "too many connections") {
		t.Errorf("refusal message %q; want it to say why", cl.Message.Message)
	}
	// The three are unaffected.
	if err := eds[0].Insert("body", 0, "still here"); err != nil {
		t.Fatal(err)
	}
	for _, e := range eds[1:] {
		if err := e.Pump(0, func() bool { return e.Text("body") == "still here" }); err != nil {
			t.Errorf("editor %d after the refusal: %v", e.ClientID, err)
		}
	}

	// Per subject, over all documents: the fifth is refused before the upgrade.
	tok := mint(t, "many", "*", auth.RoleRead, time.Hour)
	var mine []*wstest.Editor
	for i := range 4 {
		mine = append(mine, ts.joinAs(t, "s-"+string(rune('a'+i)), uint64(90+i), tok))
	}
	got := tryUpgrade(t, ts.wsURL("s-e", ""), bearer(tok))
	if got.status != http.StatusServiceUnavailable || !strings.Contains(got.body, "too_many_connections") {
		t.Errorf("fifth connection of a subject: upgrade = %d %s; want 503 too_many_connections", got.status, got.body)
	}
	if n := ts.metrics.refusals.Value(reasonTooManySubjectConns); n != 1 {
		t.Errorf("refusals{too_many_subject_connections} = %d; want 1", n)
	}
	// Another subject is not affected, and a closed connection frees its place.
	if got := tryUpgrade(t, ts.wsURL("s-e", ""), bearer(mint(t, "other", "*", auth.RoleRead, time.Hour))); got.status != 101 {
		t.Errorf("another subject: upgrade = %d %s; want 101", got.status, got.body)
	}
	_ = mine[0].Close()
	waitFor(t, 5*time.Second, "the place to be freed", func() bool {
		return tryUpgrade(t, ts.wsURL("s-e", ""), bearer(tok)).status == 101
	})
}

// heapPeak samples the live heap every millisecond until stop is closed, and returns its highest
// value above the heap at the start, after a GC.
func heapPeak(stop <-chan struct{}) (peak func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var max uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > base && m.HeapAlloc-base > max {
				max = m.HeapAlloc - base
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		<-done
		return max
	}
}

// broadcastOf returns a broadcast frame of exactly n bytes.
func broadcastOf(n int) []byte {
	for p := n; p > 0; p-- {
		b := protocol.EncodeFrame(0, &protocol.Broadcast{Payload: bytes.Repeat([]byte{'b'}, p)})
		if len(b) == n {
			return b
		}
	}
	return nil
}

// T-SEC-06, with TestMessageSizeLimit (rfc6455_test.go) for the framing cases: a message of
// exactly the default limit passes through a real session, one byte more is refused with 1009,
// in one frame or in 64-byte fragments, and refusing costs each connection at most twice the
// limit in memory.
func TestMessageSizeMemory(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	limit := ts.cfg.MaxMessageBytes
	if limit != 1<<20 {
		t.Fatalf("MaxMessageBytes = %d; want the 1 MiB default", limit)
	}
	tok := mint(t, "alice", "*", auth.RoleWrite, time.Hour)
	peer := ts.joinAs(t, "big", 101, tok)
	sender := ts.joinAs(t, "big", 102, tok)
	at := broadcastOf(limit)
	if err := sender.SendRaw(websocket.BinaryMessage, at); err != nil {
		t.Fatal(err)
	}
	if err := peer.Pump(5*time.Second, func() bool { return len(peer.Broadcasts) == 1 }); err != nil {
		t.Fatalf("a message of exactly the limit: %v", err)
	}
	f, err := protocol.DecodeFrame(at, protocol.FromClient)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(peer.Broadcasts[0].Payload), len(f.Message.(*protocol.Broadcast).Payload); got != want {
		t.Errorf("relayed payload of %d bytes; want %d", got, want)
	}

	// Four connections each send limit+1 bytes, two in one frame, two in 64-byte fragments.
	const conns = 4
	over := broadcastOf(limit + 1)
	var frames [conns][]byte
	for i := range conns {
		if i%2 == 0 {
			frames[i] = rawws.AppendFrame(nil, rawws.Frame{Fin: true, Opcode: rawws.OpBinary, Payload: over})
			continue
		}
		for off := 0; off < len(over); off += 64 {
			end := min(off+64, len(over))
			op := byte(rawws.OpContinuation)
			if off == 0 {
				op = rawws.OpBinary
			}
			frames[i] = rawws.AppendFrame(frames[i], rawws.Frame{Fin: end == len(over), Opcode: op, Payload: over[off:end]})
		}
	}
	cs := make([]*rawws.Conn, conns)
	for i := range conns {
		cs[i] = ts.rawDial(t, "big", tok, uint64(110+i), nil)
		if f, err := cs[i].ReadFrame(5 * time.Second); err != nil || f.Opcode != rawws.OpBinary {
			t.Fatalf("connection %d: sync = %v, %v", i, f, err)
		}
	}
	stop := make(chan struct{})
	peak := heapPeak(stop)
	var wg sync.WaitGroup
	outcomes := make([]rawws.Outcome, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cs[i].Write(frames[i]); err != nil {
				outcomes[i].Err = err
				return
			}
			outcomes[i] = cs[i].ReadUntilClose(5 * time.Second)
		}()
	}
	wg.Wait()
	close(stop)
	grew := peak()
	for i, o := range outcomes {
		if !o.Closed || o.Code != uint16(protocol.CloseMessageTooBig) {
			t.Errorf("connection %d (fragments %v): %+v; want close 1009", i, i%2 == 1, o)
		}
	}
	if max := uint64(conns * 2 * limit); grew > max {
		t.Errorf("heap grew by %d bytes for %d refused messages; want at most %d (2 x limit each)", grew, conns, max)
	}
	t.Logf("heap peak while refusing %d messages of limit+1: +%.2f MiB (%.2f x limit each)", conns, float64(grew)/(1<<20), float64(grew)/float64(conns*limit))
}

// deflateBomb returns the payload of a permessage-deflate message (RFC 7692: raw DEFLATE, the
// final empty block's 00 00 ff ff removed) that inflates to mib MiB of zeros. It compresses one MiB
// and repeats the result: each copy ends with a sync flush and refers to nothing before it, so the
// copies form one valid stream.
func deflateBomb(t *testing.T, mib int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	b := bytes.Repeat(buf.Bytes(), mib)
	return bytes.TrimSuffix(b, []byte{0, 0, 0xff, 0xff})
}

// T-SEC-07, with TestNoCompressionNegotiated (rfc6455_test.go) for the default: with compression
// enabled, a small message that inflates far past the limit is refused with 1009 after at most
// the limit is inflated.
func TestNoCompressionOrBombBound(t *testing.T) {
	offer := http.Header{"Sec-Websocket-Extensions": {"permessage-deflate; client_no_context_takeover; server_no_context_takeover"}}
	tok := mint(t, "alice", "*", auth.RoleWrite, time.Hour)

	// Default: not negotiated.
	off := startServer(t, secConfig(t, nil), nil)
	c := off.rawDial(t, "zip", tok, 120, offer.Clone())
	if ext := c.Response.Header.Get("Sec-Websocket-Extensions"); ext != "" {
		t.Errorf("default server negotiated %q; want no extension", ext)
	}

	cfg := secConfig(t, nil)
	cfg.EnableCompression = true
	ts := startServer(t, cfg, nil)
	limit := ts.cfg.MaxMessageBytes
	bomb := deflateBomb(t, 64)
	t.Logf("bomb: %d bytes inflating to 64 MiB", len(bomb))
	if len(bomb) > 80<<10 {
		t.Fatalf("bomb of %d bytes; want about 64 KiB", len(bomb))
	}
	// A peer on the same document, to show the server goes on serving.
	peer := ts.joinAs(t, "zip", 122, tok)
	// The heap is the process's: other tests' servers shutting down allocate too. Noise only
	// adds, so the least of three attempts is the measure.
	frame := rawws.AppendFrame(nil, rawws.Frame{Fin: true, RSV: 4, Opcode: rawws.OpBinary, Payload: bomb})
	grew := uint64(math.MaxUint64)
	for i := range 3 {
		c := ts.rawDial(t, "zip", tok, uint64(130+i), offer.Clone())
		if ext := c.Response.Header.Get("Sec-Websocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
			t.Fatalf("compression enabled, offered: negotiated %q; want permessage-deflate", ext)
		}
		if f, err := c.ReadFrame(5 * time.Second); err != nil || f.Opcode != rawws.OpBinary {
			t.Fatalf("sync = %v, %v", f, err)
		}
		stop := make(chan struct{})
		peak := heapPeak(stop)
		if err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		o := c.ReadUntilClose(10 * time.Second)
		close(stop)
		grew = min(grew, peak())
		if !o.Closed || o.Code != uint16(protocol.CloseMessageTooBig) {
			t.Errorf("bomb %d: %+v; want close 1009", i, o)
		}
		t.Logf("bomb %d refused after %v", i, o.Elapsed)
	}
	if max := uint64(limit + 1<<20); grew > max {
		t.Errorf("heap grew by %d bytes refusing the bomb; want at most limit + 1 MiB = %d", grew, max)
	}
	t.Logf("heap peak while refusing a 64 MiB bomb: +%.2f MiB (limit %d MiB)", float64(grew)/(1<<20), limit>>20)
	// The server goes on serving.
	if err := peer.Insert("body", 0, "alive"); err != nil {
		t.Fatal(err)
	}
	if err := peer.WaitAcked(5 * time.Second); err != nil {
		t.Errorf("after the bomb: %v", err)
	}
}

// T-SEC-10.
func TestHeaderFloodAndSlowloris(t *testing.T) {
	cfg := secConfig(t, nil)
	cfg.ReadHeaderTimeout = time.Second // the default is 5 s; the criterion is at most 10 s
	ts := startServer(t, cfg, nil)
	addr := strings.TrimPrefix(ts.base, "http://")
	ctx := context.Background()

	many := &strings.Builder{}
	many.WriteString("GET /v1/docs/a/ws HTTP/1.1\r\nHost: x\r\n")
	for i := range 2000 {
		fmt.Fprintf(many, "X-H-%d: v\r\n", i)
	}
	many.WriteString("\r\n")
	huge := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n"
	for _, tt := range []struct {
		name, raw string
	}{
		{"2000 headers", many.String()},
		{"1 MiB of headers", huge},
	} {
		resp, _, err := rawws.RoundTrip(ctx, addr, tt.raw)
		switch {
		case err != nil:
			// The server may close before it has read the whole request; a 431 is preferred,
			// but a closed connection is a refusal too.
			t.Logf("%s: %v", tt.name, err)
		case resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge:
			t.Errorf("%s: status %d; want 431", tt.name, resp.StatusCode)
		}
	}

	// A request dribbled one byte every 100 ms is dropped once the read header timeout passes.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	start := time.Now()
	req := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("s", 200) + "\r\n\r\n"
	var dropped time.Duration
	for i := 0; i < len(req); i++ {
		if _, err := nc.Write([]byte{req[i]}); err != nil {
			dropped = time.Since(start)
			break
		}
		// A write succeeds into the socket's buffer even after the server closed; a read with a
		// short deadline tells whether the server has hung up.
		_ = nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		var b [1]byte
		if _, err := nc.Read(b[:]); err != nil && !isTimeoutErr(err) {
			dropped = time.Since(start)
			break
		}
	}
	if dropped == 0 {
		t.Fatalf("a request dribbled for %v was never dropped", time.Since(start))
	}
	if dropped > cfg.ReadHeaderTimeout+time.Second {
		t.Errorf("dribbled request dropped after %v; want within the read header timeout (%v)", dropped, cfg.ReadHeaderTimeout)
	}
	t.Logf("dribbled request dropped after %v", dropped.Round(time.Millisecond))

	// The server is alive.
	if status, b := httpDo(t, "GET", ts.base+"/healthz", "", nil); status != 200 {
		t.Errorf("healthz after the floods = %d %s; want 200", status, b)
	}
	d := SecurityConfig{}.withDefaults()
	if d.MaxHeaderBytes != 16<<10 || d.ReadHeaderTimeout > 10*time.Second {
		t.Errorf("defaults: MaxHeaderBytes %d, ReadHeaderTimeout %v; want 16 KiB and at most 10 s", d.MaxHeaderBytes, d.ReadHeaderTimeout)
	}
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
