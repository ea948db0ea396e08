package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemhq/tandem/cmd/tandem-bench/internal/wsclient"
)

// partialResult is the JSON result of --mode partial: the unfinished-frames attack. --clients
// connections (no hello, no token: an open server) each send all but the last byte of a frame
// that announces --frame-bytes (or --send-bytes of its payload), and hold it for --settle; then they all leave at once, and the
// server's RSS is followed for --duration. With --warmup, the same attack runs first for that
// long, and the baseline (RSS0MB) is measured 10 s after it: a server that has run the attack's
// code paths once (their pages of the binary, the runtime's threads), so that what stays after
// the measured round is what the attack itself leaves behind. ColdRSS0MB is the RSS before
// anything.
type partialResult struct {
	Label      string  `json:"label,omitempty"`
	Conns      int     `json:"conns"`
	FrameBytes int     `json:"frame_bytes"`
	ColdRSS0MB float64 `json:"cold_rss0_mb"`
	RSS0MB     float64 `json:"rss0_mb"`
	// PeakRSSMB is the highest RSS sampled (every 200 ms) while the connections sent and held.
	PeakRSSMB float64 `json:"peak_rss_mb"`
	// HeldRSSMB is the RSS at the end of the hold.
	HeldRSSMB float64 `json:"held_rss_mb"`
	// Held and Refused count the connections still open at the end of the hold and those the
	// server closed before it.
	Held    int `json:"held"`
	Refused int `json:"refused"`
	// AccountedMB is tandem_partial_message_bytes at the end of the hold, and BudgetRefusals
	// tandem_refusals_total{reason="partial_message_budget"} (-1: the server has no such metric).
	AccountedMB    float64 `json:"accounted_mb"`
	BudgetRefusals int64   `json:"budget_refusals"` // in the measured round
	// After the connections left: the RSS every 10 s (AfterRSSMB[0] at 10 s), the RSS at the end
	// of --duration, and the seconds until RSS first came within 10 % of RSS0 (-1: not within
	// --duration).
	AfterRSSMB   []float64 `json:"after_rss_mb"`
	EndRSSMB     float64   `json:"end_rss_mb"`
	ReturnWithin float64   `json:"return_within_10pct_s"`
}

// benchPartial runs --mode partial.
func benchPartial(ctx context.Context, e *benchEnv) (*partialResult, error) {
	o := e.o
	if e.pid <= 0 {
		return nil, fmt.Errorf("bench: --mode partial needs --server-pid or --spawn (it reads the server's RSS)")
	}
	sleepUntil(ctx, time.Now().Add(2*time.Second))
	cold, err := procRSS(e.pid)
	if err != nil {
		return nil, err
	}
	res := &partialResult{Label: o.label, Conns: o.clients, FrameBytes: o.frameBytes, ColdRSS0MB: mib(cold), ReturnWithin: -1}

	// One frame for every connection: a 64-bit length header, a fixed masking key, the payload
	// masked once (the server reads bytes, not meaning), all but its last byte sent.
	key := [4]byte{0x5a, 0x17, 0xc3, 0x81}
	frame := wsclient.AppendFrame(nil, wsclient.OpBinary, make([]byte, o.frameBytes), key)
	part := frame[:len(frame)-1]
	if o.sendBytes >= 0 {
		part = frame[:len(frame)-o.frameBytes+o.sendBytes]
	}
	rss0 := cold
	if o.warmup > 0 {
		e.logf("partial: warm-up round of %v", o.warmup)
		if _, err := holdUnfinished(ctx, e, part, o.warmup, "warmup-"); err != nil {
			return nil, err
		}
		sleepUntil(ctx, time.Now().Add(10*time.Second))
		if rss0, err = procRSS(e.pid); err != nil {
			return nil, err
		}
	}
	res.RSS0MB = mib(rss0)
	h, err := holdUnfinished(ctx, e, part, o.settle, "")
	if err != nil {
		return nil, err
	}
	res.PeakRSSMB, res.HeldRSSMB, res.Refused = mib(h.peak), mib(h.held), h.refused
	res.Held = o.clients - res.Refused
	res.AccountedMB, res.BudgetRefusals = mib(h.accounted), h.budgetRefusals
	if h.accounted < 0 {
		res.AccountedMB = -1
	}
	e.logf("partial: held %d, refused %d; RSS %.1f MiB before, peak %.1f, held %.1f; accounted %.1f MiB", res.Held, res.Refused, res.RSS0MB, res.PeakRSSMB, res.HeldRSSMB, res.AccountedMB)

	left := time.Now()
	for next := 1; ctx.Err() == nil; next++ {
		sleepUntil(ctx, left.Add(time.Duration(next)*time.Second))
		r, err := procRSS(e.pid)
		if err != nil {
			return nil, err
		}
		if res.ReturnWithin < 0 && float64(r) <= 1.1*float64(rss0) {
			res.ReturnWithin = round1(time.Since(left).Seconds())
		}
		if next%10 == 0 {
			res.AfterRSSMB = append(res.AfterRSSMB, mib(r))
		}
		if time.Duration(next)*time.Second >= o.duration {
			res.EndRSSMB = mib(r)
			break
		}
	}
	e.logf("partial: RSS after leaving %v MiB (every 10 s); within 10 %% of the baseline after %v s", res.AfterRSSMB, res.ReturnWithin)
	return res, ctx.Err()
}

// holdStats is what one round of the attack measured.
type holdStats struct {
	peak, held     int64 // RSS: the highest sampled, and at the end of the hold
	refused        int   // connections the server closed (or refused) before the hold ended
	accounted      int64 // tandem_partial_message_bytes at the end of the hold; -1 if absent
	budgetRefusals int64 // tandem_refusals_total{reason="partial_message_budget"}; -1 if absent
}

// holdUnfinished runs one round of the attack: --clients connections send part and hold it for
// hold, then all leave at once; it returns once they have.
func holdUnfinished(ctx context.Context, e *benchEnv, part []byte, hold time.Duration, docPrefix string) (holdStats, error) {
	o := e.o
	rss0, err := procRSS(e.pid)
	if err != nil {
		return holdStats{}, err
	}
	refusedBefore, _ := scrapeMetric(ctx, e.url, `tandem_refusals_total{reason="partial_message_budget"}`)
	var peak atomic.Int64
	peak.Store(rss0)
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
			if r, err := procRSS(e.pid); err == nil && r > peak.Load() {
				peak.Store(r)
			}
		}
	}()

	e.logf("partial: %d connections each sending %d bytes of a frame", o.clients, len(part))
	holdCtx, release := context.WithCancel(ctx)
	defer release()
	var (
		wg      sync.WaitGroup
		refused atomic.Int64
		sem     = make(chan struct{}, o.connectConcurrency)
	)
	for i := 0; i < o.clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-holdCtx.Done():
				return
			}
			dctx, cancel := context.WithTimeout(holdCtx, 10*time.Second)
			c, err := wsclient.Dial(dctx, strings.TrimSuffix(e.url, "/")+"/v1/docs/"+url.PathEscape(docPrefix+docName(o.docPrefix, i%o.docs))+"/ws")
			cancel()
			if err != nil {
				<-sem
				refused.Add(1)
				return
			}
			defer c.NetConn().Close()
			_ = c.NetConn().SetWriteDeadline(time.Now().Add(30 * time.Second))
			_, werr := c.NetConn().Write(part)
			<-sem
			if werr != nil {
				refused.Add(1)
				return
			}
			// Hold: anything the server sends (an error, a close frame, the end) means it gave up
			// on this connection before the hold ended.
			stop := context.AfterFunc(holdCtx, func() { _ = c.NetConn().SetReadDeadline(time.Now()) })
			defer stop()
			var b [256]byte
			if _, err := c.NetConn().Read(b[:]); holdCtx.Err() == nil || !isTimeoutErr(err) {
				refused.Add(1)
			}
		}(i)
	}
	sleepUntil(ctx, time.Now().Add(hold))
	var h holdStats
	if h.held, err = procRSS(e.pid); err != nil {
		return h, err
	}
	var ok bool
	if h.accounted, ok = scrapeMetric(ctx, e.url, "tandem_partial_message_bytes"); !ok {
		h.accounted = -1
	}
	if h.budgetRefusals, ok = scrapeMetric(ctx, e.url, `tandem_refusals_total{reason="partial_message_budget"}`); ok {
		h.budgetRefusals -= refusedBefore // this round's
	} else {
		h.budgetRefusals = -1
	}
	// Everyone leaves at once.
	release()
	wg.Wait()
	close(stopSampling)
	sampler.Wait()
	h.peak = peak.Load()
	h.refused = int(refused.Load())
	return h, ctx.Err()
}

func mib(b int64) float64 { return round1(float64(b) / (1 << 20)) }

// isTimeoutErr reports whether err is a timeout (the read deadline the hold's end sets).
func isTimeoutErr(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// scrapeMetric reads one sample of the server's /metrics (the line that starts with series and a
// space) and reports whether it was there.
func scrapeMetric(ctx context.Context, wsURL, series string) (int64, bool) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+u.Host+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			return int64(n), err == nil
		}
	}
	return 0, false
}
