package server

// The security test of the update rate limit: T-SEC-08 (helpers in security_helpers_test.go).

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// percentile returns the p-th percentile (0-100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// latency is one broadcast latency: when the update was sent, and how long it took to reach the
// observer.
type latency struct {
	sent time.Time
	d    time.Duration
}

// editLoad runs n editors on docID, each typing a character every period, and an observer
// that records, for every update, the time from its sending to its arrival at the observer. It
// runs until stop is closed and returns the latencies.
func (ts *testServer) editLoad(t *testing.T, docID string, firstID uint64, n int, period time.Duration, stop <-chan struct{}) func() []latency {
	t.Helper()
	observer := ts.joinAs(t, docID, firstID, mint(t, "observer", docID, auth.RoleRead, time.Hour))
	var mu sync.Mutex
	sentAt := map[crdt.ID]time.Time{}
	var lat []latency
	var wg sync.WaitGroup
	// quit ends the load when the test ends before the caller closed stop (a t.Fatal): the
	// goroutines must be gone before the test is, or their t.Errorf would panic the whole run.
	// Cleanups run last-registered first, so this one runs before the server shuts down.
	quit := make(chan struct{})
	ended := func() bool {
		select {
		case <-stop:
			return true
		case <-quit:
			return true
		default:
			return false
		}
	}
	for i := range n {
		e := ts.joinAs(t, docID, firstID+1+uint64(i), mint(t, fmt.Sprintf("editor%d", i), docID, auth.RoleWrite, time.Hour))
		// Acks and others' updates are read and dropped, so that no editor is a slow consumer: as
		// raw bytes, which costs the test process little next to decoding frames (the server
		// writes the same either way). Editors answer no ping: the server's PongWait must be
		// longer than the load runs.
		go func() { _, _ = io.Copy(io.Discard, e.WS.NetConn()) }()
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(period)
			defer tick.Stop()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				case <-quit:
					return
				case <-tick.C:
				}
				// At the end of the editor's own text: it drops the others' updates, so its runs
				// form a chain of its own, which the server places after its previous run without
				// a scan (typing at 0 would make each of its runs concurrent with every other
				// client's at the start of the document, a scan that grows with the test).
				txt := e.Doc.Text("body")
				if err := txt.Insert(txt.Len(), "e"); err != nil {
					t.Error(err)
					return
				}
				u := e.Doc.TakeUpdate()
				mu.Lock()
				sentAt[crdt.ID{Client: e.ClientID, Clock: uint64(k)}] = time.Now()
				mu.Unlock()
				_ = e.WS.SetWriteDeadline(time.Now().Add(30 * time.Second))
				if err := e.WS.WriteMessage(websocket.BinaryMessage, protocol.EncodeFrame(0, &protocol.Update{Data: u})); err != nil {
					if !ended() {
						t.Errorf("editor %d: %v", e.ClientID, err)
					}
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := observer.Read(time.Second)
			if ended() {
				return
			}
			if err != nil {
				if wstest.IsTimeout(err) {
					continue
				}
				t.Errorf("observer: %v", err)
				return
			}
			u, ok := m.(*protocol.Update)
			if !ok {
				continue
			}
			now := time.Now()
			info, err := crdt.InspectUpdate(u.Data)
			if err != nil {
				t.Errorf("observer: %v", err)
				return
			}
			mu.Lock()
			for _, r := range info.Ranges {
				if at, ok := sentAt[crdt.ID{Client: r.Client, Clock: r.Start}]; ok {
					lat = append(lat, latency{at, now.Sub(at)})
				}
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		close(quit)
		wg.Wait()
		<-done
	})
	return func() []latency {
		wg.Wait()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return lat
	}
}

// floodResult is how the server dealt with one flooder.
type floodResult struct {
	sent     int
	exceeded time.Time // when it had sent more than its burst and rate allow
	// emptied is when an ack showed that the server had read all but a quarter second's worth of
	// what the burst and rate allow: its bucket was about empty by then. On a loaded machine the
	// server reads the burst much later than the flooder sends it, so that exceeded can come
	// seconds before the server's bucket is empty. Zero if no ack showed it.
	emptied time.Time
	closed  time.Time // when it saw the refusal, or left
	code    protocol.CloseCode
}

// locked returns a copy of r read under mu.
func (r *floodResult) locked(mu *sync.Mutex) floodResult {
	mu.Lock()
	defer mu.Unlock()
	return *r
}

// flood joins a client as clientID and sends updates: at 10 x the update rate until the server
// refuses it (or 30 s pass: a failure), or, with polite set, its burst at that pace and then
// updates at the rate for grace, after which it leaves. Both send the same updates, encoded
// before the first is sent, so that the test process spends the same on either while it runs.
func (ts *testServer) flood(t *testing.T, docID string, clientID uint64, rate float64, burst int, grace time.Duration, polite bool) floodResult {
	t.Helper()
	flooder := ts.joinAs(t, docID, clientID, mint(t, "flooder", docID, auth.RoleWrite, time.Hour))
	defer flooder.WS.Close()
	frames := make([][]byte, burst+int(10*rate*(grace+2*time.Second).Seconds()))
	txt := flooder.Doc.Text("body")
	for i := range frames {
		_ = txt.Insert(txt.Len(), "f")
		frames[i] = protocol.EncodeFrame(0, &protocol.Update{Data: flooder.Doc.TakeUpdate()})
	}
	only := len(frames)
	if polite {
		only = burst + int(rate*grace.Seconds())
	}
	// The reader: the refusal is the error message before the close frame (the close frame itself
	// may be lost: the flooder keeps writing after the server has closed, so the server's socket
	// can end with a reset).
	closed := make(chan protocol.CloseCode, 1)
	start := time.Now()
	var r floodResult
	var mu sync.Mutex // guards r.emptied
	go func() {
		var last protocol.CloseCode
		for {
			_, b, err := flooder.WS.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
					last = protocol.CloseCode(ce.Code)
				}
				closed <- last
				return
			}
			f, err := protocol.DecodeFrame(b, protocol.FromServer)
			if err != nil {
				continue
			}
			switch m := f.Message.(type) {
			case *protocol.Error:
				closed <- m.Code
				return
			case *protocol.Ack:
				now := time.Now()
				mu.Lock()
				// Within a quarter second's worth of tokens of empty: the slack covers the acks'
				// delay (the server reads at the rate once throttled, so that acks, which come
				// after durability, never quite show it empty).
				if r.emptied.IsZero() && float64(m.Seq) > float64(burst)+rate*now.Sub(start).Seconds()-rate/4 {
					r.emptied = now
				}
				mu.Unlock()
			}
		}
	}()
	tick := time.NewTicker(time.Second / time.Duration(10*rate))
	defer tick.Stop()
	for {
		select {
		case r.code = <-closed:
			r.closed = time.Now()
			return r.locked(&mu)
		case <-tick.C:
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("flooder %d not closed after 30 s (%d updates sent)", clientID, r.sent)
		}
		if r.sent == len(frames) {
			// Not refused after its burst and 2 s beyond its grace: a failure the caller sees
			// by the missing code.
			r.closed = time.Now()
			return r.locked(&mu)
		}
		// A write blocks while the server, throttling the flooder, does not read.
		_ = flooder.WS.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if err := flooder.WS.WriteMessage(websocket.BinaryMessage, frames[r.sent]); err != nil {
			r.code = <-closed
			r.closed = time.Now()
			return r.locked(&mu)
		}
		r.sent++
		if r.sent == only {
			r.closed = time.Now()
			return r.locked(&mu)
		}
		if polite && r.sent >= burst {
			// At the rate from now on: one update per 10 ticks.
			for range 9 {
				<-tick.C
			}
		}
		if r.exceeded.IsZero() && float64(r.sent) > float64(burst)+rate*time.Since(start).Seconds() {
			r.exceeded = time.Now()
		}
	}
}

// T-SEC-08. Ten editors type at 10 updates per second each for the whole test, and an observer
// records every update's broadcast latency. Rounds of three windows follow each other, so that
// every condition is measured on the same connections, interleaved, under the same background
// load (other processes, the race detector):
//   - polite: an extra client sends its burst (UpdateBurst updates) at the flood's pace, then
//     updates at the rate for RateLimitGrace, all within its limit, and leaves; the window lasts
//     as long as the flood window before it;
//   - flood: a flooder sends at 10 x the update rate, the same burst first, and keeps on until
//     the server refuses it, which must happen with 4429 within 3 x the grace plus 2 s (a loaded
//     machine under the race detector; a throttle that lets the flood run on fails it) of
//     exceeding the burst, as
//     the server sees it: from the first ack counting more updates than the burst and the rate
//     allow (floodResult.emptied), not from the flooder's sending, which a loaded server reads
//     seconds later;
//   - quiet: the editors alone, for a second.
//
// The criterion compares the p99 of the latencies of updates sent during flood windows with that
// of polite windows and of quiet ones (about 1 000 samples each): at most 2 x the larger, with a floor of latencyFloor (60 ms,
// 300 ms under the race detector) under which a difference is the machine's noise, not
// starvation (which shows in seconds: the stall this guards against held an editor's p50 at 6 s). The server admits the same from both clients, its burst and then its rate, so what
// the flood adds is what arrives beyond the limit: what the throttle must keep from the editors.
// Polite windows are the baseline because on a loaded machine under the race detector the server
// takes hundreds of milliseconds to fan out a burst of 300 updates to a dozen connections, flood
// or not; the quiet windows' p99 (the editors alone) is logged beside them. Both clients send
// updates encoded beforehand, so that the test process spends the same on either.
//
// At 10 x the default rate the flood does not starve the editors even unthrottled: with the
// limit off, 2 100 flood updates in 3.5 s left their p99 at 14 ms beside 18 ms for a polite
// client (and failed the close criterion). The latency criterion guards the fan-out path; the
// close criterion is what shows the throttle at work.
func TestRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s under the race detector")
	}
	const (
		editors, period = 10, 100 * time.Millisecond // 10 editors at 10 updates per second each
		rounds          = 6
	)
	// Below the floor, a difference between p99s is the machine's noise: quiet windows on a
	// shared two-core machine show p99s of 10 to 115 ms under the race detector, from stalls that
	// hit whichever window they fall in, and a flood window's p99 reached 208 ms (p50 11 ms) while
	// other packages' tests ran beside this one.
	latencyFloor := 60 * time.Millisecond
	if raceEnabled {
		latencyFloor = 300 * time.Millisecond
	}
	cfg := secConfig(t, nil)
	cfg.PongWait = 5 * time.Minute // the editors read raw bytes and answer no ping (editLoad)
	ts := startServer(t, cfg, nil)
	rate, burst, grace := ts.cfg.UpdatesPerSecond, ts.cfg.UpdateBurst, ts.cfg.RateLimitGrace
	if rate != 60 || burst != 300 || grace != time.Second {
		t.Fatalf("update rate %v burst %d grace %v; want the defaults 60, 300 and 1 s", rate, burst, grace)
	}
	stop := make(chan struct{})
	collect := ts.editLoad(t, "flood", 200, editors, period, stop)
	time.Sleep(500 * time.Millisecond) // the editors' first updates, before any window

	const (
		politeWindow = iota
		floodWindow
		quietWindow
	)
	type window struct {
		from, to time.Time
		kind     int
	}
	var windows []window
	last := 2 * time.Second // the length of the first burst window: about a flood window's
	for r := range rounds {
		from := time.Now()
		if res := ts.flood(t, "flood", 500+uint64(r), rate, burst, grace, true); res.code != 0 || !res.exceeded.IsZero() {
			t.Fatalf("round %d: the polite client was refused with %v or exceeded its burst (%d sent)", r, res.code, res.sent)
		}
		time.Sleep(last - time.Since(from))
		windows = append(windows, window{from, time.Now(), politeWindow})

		from = time.Now()
		res := ts.flood(t, "flood", 300+uint64(r), rate, burst, grace, false)
		windows = append(windows, window{from, res.closed, floodWindow})
		last = res.closed.Sub(from)
		emptied := res.emptied
		if emptied.IsZero() || emptied.After(res.closed) {
			emptied = res.exceeded // no ack showed it: the earliest the server could have known
		}
		t.Logf("round %d: flooder sent %d updates, exceeded its burst after %v (the server's bucket empty by %v), refused %v after that with %v",
			r, res.sent, res.exceeded.Sub(from).Round(time.Millisecond), emptied.Sub(from).Round(time.Millisecond), res.closed.Sub(emptied).Round(time.Millisecond), res.code)
		// The server refused it with 4429. The client saw the error message or the close frame,
		// unless the reset that ends a socket the flooder kept writing to came first (code 0).
		if res.code != protocol.CloseRateLimited && res.code != 0 {
			t.Fatalf("round %d: flooder refused with %v; want 4429", r, res.code)
		}
		if res.exceeded.IsZero() {
			t.Fatalf("round %d: the flooder never exceeded its burst (%d sent)", r, res.sent)
		}
		// The grace is 1 s; the bound leaves room for a loaded machine under the race detector
		// (2.3 s seen), and still fails a throttle that lets the flood run on.
		if d := res.closed.Sub(emptied); d > 3*grace+2*time.Second {
			t.Errorf("round %d: flooder closed %v after the server's bucket was empty; want within %v", r, d, 3*grace+2*time.Second)
		}

		from = time.Now()
		time.Sleep(time.Second)
		windows = append(windows, window{from, time.Now(), quietWindow})
	}
	close(stop)
	samples := collect()
	if n := ts.metrics.refusals.Value(reasonRateLimited); n != rounds {
		t.Fatalf("refusals{rate_limited} = %d; want %d (one per flooder; the burst clients stay within their limit)", n, rounds)
	}

	var lat [3][]time.Duration
	for _, s := range samples {
		for _, w := range windows {
			if !s.sent.Before(w.from) && s.sent.Before(w.to) {
				lat[w.kind] = append(lat[w.kind], s.d)
				break
			}
		}
	}
	bp, fp := percentile(lat[politeWindow], 99), percentile(lat[floodWindow], 99)
	t.Logf("editors' broadcast latency p50/p99: beside a polite client %v/%v (%d samples), beside a flooder %v/%v (%d), quiet %v/%v (%d)",
		percentile(lat[politeWindow], 50), bp, len(lat[politeWindow]),
		percentile(lat[floodWindow], 50), fp, len(lat[floodWindow]),
		percentile(lat[quietWindow], 50), percentile(lat[quietWindow], 99), len(lat[quietWindow]))
	if len(lat[politeWindow]) < 500 || len(lat[floodWindow]) < 500 {
		t.Fatalf("too few samples for a p99: %d beside a polite client, %d beside a flooder", len(lat[politeWindow]), len(lat[floodWindow]))
	}
	// The quiet windows' p99 is the machine's own noise in this run: a p99 beside the flooder
	// within twice the larger of the two baselines is no starvation.
	qp := percentile(lat[quietWindow], 99)
	if limit := max(2*bp, 2*qp, latencyFloor); fp > limit {
		t.Errorf("editors' p99 with a flooder = %v; want at most %v (2 x the p99 beside a polite client %v or of the quiet windows %v, floor %v)", fp, limit, bp, qp, latencyFloor)
	}
}
