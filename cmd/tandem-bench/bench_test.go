package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseProcStatCPU(t *testing.T) {
	tests := []struct {
		name, line string
		want       time.Duration
		wantErr    bool
	}{
		{name: "plain", line: "1234 (tandem) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 8 0 100 0 0", want: 3 * time.Second},
		{name: "spaces and parens in the name", line: "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5 0 0", want: 30 * time.Millisecond},
		{name: "truncated", line: "7 (x) R 1 2", wantErr: true},
		{name: "no name", line: "garbage", wantErr: true},
		{name: "not numbers", line: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 u s 0 0 20 0 1 0 5", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseProcStatCPU([]byte(tt.line))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: parseProcStatCPU = %v, %v; want %v (error %t)", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "Name:\ttandem\nVmPeak:\t 1 kB\nVmRSS:\t   20480 kB\nThreads: 8\n", want: 20480 << 10},
		{in: "Name:\tx\n", wantErr: true},
		{in: "VmRSS:\t12 MB\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseVmRSS([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseVmRSS(%q) = %d, %v; want %d (error %t)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	h := newHist()
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * 100 * time.Microsecond) // 0.1 ms .. 100 ms
	}
	h.add(3 * time.Second) // beyond the buckets
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{0.5, 50*time.Millisecond + 105*time.Microsecond}, // the 501st of 1001 samples
		{0.99, 99*time.Millisecond + 105*time.Microsecond},
		{1, 3 * time.Second},
	}
	for _, tt := range tests {
		if got := h.quantile(tt.p); got != tt.want {
			t.Errorf("quantile(%g) = %v; want %v", tt.p, got, tt.want)
		}
	}
	if h.max != 3*time.Second || h.n != 1001 {
		t.Errorf("max, n = %v, %d; want 3s, 1001", h.max, h.n)
	}
	s := newShardedHist(3)
	for i := 0; i < 30; i++ {
		s.add(i, time.Millisecond)
	}
	if m := s.merged(); m.n != 30 || m.quantile(0.5) != time.Millisecond+5*time.Microsecond {
		t.Errorf("merged n=%d p50=%v; want 30, 1.005ms", m.n, m.quantile(0.5))
	}
	if got := newHist().quantile(0.5); got != 0 {
		t.Errorf("empty quantile = %v; want 0", got)
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, u := range []string{"ws://127.0.0.1:8080", "ws://localhost:1", "ws://[::1]:80", "http://127.0.0.2:9"} {
		if err := checkLoopback(u); err != nil {
			t.Errorf("checkLoopback(%q) = %v; want nil", u, err)
		}
	}
	for _, u := range []string{"ws://10.0.0.1:8080", "ws://example.com", "ws://0.0.0.0:8080", "::bad"} {
		if err := checkLoopback(u); err == nil {
			t.Errorf("checkLoopback(%q) = nil; want an error", u)
		}
	}
}

func TestParseBench(t *testing.T) {
	tests := []struct {
		args    string
		wantErr string
	}{
		{args: "--clients 500 --docs 50 --rate 5 --duration 30s"},
		{args: "--mode idle --steps 1000,5000 --docs 100"},
		{args: "--mode sync --pattern random --n 1000"},
		{args: "--mode durable --clients 50 --docs 10"},
		{args: "--mode heavy --spawn --server-bin /bin/true --write-rate 500000 --update-bytes 16384"},
		{args: "--mode heavy", wantErr: "--spawn"},
		{args: "--mode heavy --spawn --server-bin /bin/true --update-bytes 0", wantErr: "--update-bytes"},
		{args: "--mode heavy --spawn --server-bin /bin/true --write-rate 0", wantErr: "--write-rate"},
		{args: "--mode fast", wantErr: "--mode"},
		{args: "--clients 0", wantErr: "--clients"},
		{args: "--clients 100000", wantErr: "--clients"},
		{args: "--rate 0", wantErr: "--rate"},
		{args: "--duration 1h", wantErr: "--duration"},
		{args: "--url ws://192.168.1.1:8080", wantErr: "this machine"},
		{args: "--spawn", wantErr: "--server-bin"},
		{args: "--mode idle --steps 5000,1000", wantErr: "--steps"},
		{args: "--mode sync --pattern zigzag", wantErr: "--pattern"},
		{args: "extra", wantErr: "unexpected argument"},
		{args: "--proto yws --url ws://127.0.0.1:1234 --clients 500"},
		{args: "--proto hocus --mode idle"},
		{args: "--proto yws --mode durable", wantErr: "latency and idle"},
		{args: "--proto yws --apply", wantErr: "--apply"},
		{args: "--proto yws --spawn --server-bin x", wantErr: "--spawn"},
		{args: "--proto automerge", wantErr: "--proto"},
		{args: "--url ws://127.0.0.1:1,ws://127.0.0.1:2 --url ws://localhost:3 --clients 30 --docs 3"},
		{args: "--mode ramp --url ws://127.0.0.1:1,ws://127.0.0.1:2 --rates 1,2.5,10 --p99-limit 50ms"},
		{args: "--url ws://127.0.0.1:1,ws://10.0.0.2:2", wantErr: "this machine"},
		{args: "--url ws://127.0.0.1:1,", wantErr: "empty URL"},
		{args: "--mode durable --url ws://127.0.0.1:1,ws://127.0.0.1:2 --clients 50 --docs 10", wantErr: "latency and ramp"},
		{args: "--url ws://127.0.0.1:1,ws://127.0.0.1:2 --spawn --server-bin x", wantErr: "--spawn"},
		{args: "--mode ramp --rates 4,2", wantErr: "--rates"},
		{args: "--mode ramp --p99-limit 0s", wantErr: "--p99-limit"},
		{args: "--mode ramp --give-up -1", wantErr: "--give-up"},
		{args: "--mode ramp --spawn --server-bin x --cluster 3 --compare-single"},
		{args: "--mode ramp --compare-single", wantErr: "--compare-single"},
		{args: "--cluster 3", wantErr: "--spawn"},
		{args: "--spawn --server-bin x --cluster 2", wantErr: "--cluster 2"},
		{args: "--mode durable --spawn --server-bin x --cluster 3 --clients 50 --docs 10", wantErr: "--cluster"},
		{args: "--mode failover --spawn --server-bin x --cluster 3 --clients 30 --docs 5 --kills 6 --warm --backoff-min 100ms --backoff-max 1s"},
		{args: "--mode failover --clients 30 --docs 5", wantErr: "--cluster"},
		{args: "--mode failover --spawn --server-bin x --cluster 3 --clients 30 --docs 5 --kills 0", wantErr: "--kills"},
		{args: "--mode failover --spawn --server-bin x --cluster 3 --clients 30 --docs 5 --backoff-min 2s --backoff-max 1s", wantErr: "--backoff-min"},
	}
	for _, tt := range tests {
		_, err := parseBench(strings.Fields(tt.args), io.Discard)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("parseBench(%q) = %v; want nil", tt.args, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("parseBench(%q) = %v; want an error mentioning %q", tt.args, err, tt.wantErr)
		}
	}
}

// The generated documents are the anchors' (bigsync.mjs) character for character: these texts
// come from running its generator with seed 1 and 40 characters.
func TestGeneratedScriptMatchesAnchors(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{"seq", "hlqwblyrauins h\n kvrgdckewsmiy fk\nmro\n w"},
		{"runs", "l\novxn urwlish vgcesi kmo  evpskhabent r"},
		{"random", "akwulty\n\nrade\nbnemfll m f rwpkw nafrxh\nz"},
	}
	for _, tt := range tests {
		s := generatedScript(tt.pattern, 40, 1)
		var text []rune
		for _, e := range s.edits {
			text = append(text[:e.pos], append([]rune(e.ins), text[e.pos:]...)...)
		}
		if got := string(text); got != tt.want {
			t.Errorf("generatedScript(%q) text = %q; want %q", tt.pattern, got, tt.want)
		}
	}
}

func TestListeningLine(t *testing.T) {
	tests := []struct{ line, want string }{
		{`time=2026-11-21T20:00:00Z level=INFO msg=listening addr=127.0.0.1:40123 data=/tmp/x.db`, "127.0.0.1:40123"},
		{`{"time":"2026","level":"INFO","msg":"listening","addr":"127.0.0.1:5","data":"x"}`, "127.0.0.1:5"},
		{`level=INFO msg="document loaded" addr=127.0.0.1:9`, ""},
	}
	for _, tt := range tests {
		got := ""
		if m := listeningRE.FindStringSubmatch(tt.line); m != nil {
			got = m[1]
		}
		if got != tt.want {
			t.Errorf("listening address in %q = %q; want %q", tt.line, got, tt.want)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The vectors come from yjs 13.6.33 itself (Y.Doc updates, Y.mergeUpdates, Y.parseUpdateMeta),
// so that the bench's Yjs client sends what Yjs sends and reads what Yjs reads.
func TestYjsCharsUpdateMatchesYjs(t *testing.T) {
	tests := []struct {
		id, clock, n uint64
		want         string
	}{
		{7, 0, 1, "0101070004010174017800"}, // Y.Doc clientID 7: text "t".insert(0, "x")
		{7, 1, 1, "01010701840700017800"},   // then .insert(1, "x")
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(yjsCharsUpdate(tt.id, tt.clock, tt.n)); got != tt.want {
			t.Errorf("yjsCharsUpdate(%d, %d, %d) = %s; want %s", tt.id, tt.clock, tt.n, got, tt.want)
		}
	}
	got, err := yjsRanges(yjsCharsUpdate(7, 0, 3), nil)
	if err != nil || len(got) != 1 || got[0] != (clockRange{7, 0, 3}) {
		t.Errorf("yjsRanges(three chars) = %v, %v; want [{7 0 3}]", got, err)
	}
}

func TestYjsRanges(t *testing.T) {
	tests := []struct {
		name, hex string
		want      []clockRange
		wantErr   bool
	}{
		// Two clients, "héllo😀" (7 UTF-16 units) by 300, "ab" by 5, a delete set, merged.
		{name: "merged", hex: "0201ac0200040101740a68c3a96c6c6ff09f9880010500c4ac0201ac020202616201ac02010001",
			want: []clockRange{{300, 0, 7}, {5, 0, 2}}},
		// Map entries hold ContentAny (ref 8), which the bench does not decode.
		{name: "map", hex: "010209002801016d016b017d012801016d016a0175027d017d0200", wantErr: true},
		{name: "truncated", hex: "0101070004010174", wantErr: true},
		{name: "empty update", hex: "0000"},
	}
	for _, tt := range tests {
		got, err := yjsRanges(mustHex(t, tt.hex), nil)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: yjsRanges error %v; want error %t", tt.name, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: yjsRanges = %v; want %v", tt.name, got, tt.want)
		}
	}
}

// FuzzYjsRanges: the bench's Yjs decoder never panics on what a server sends, and never reports
// a range that ends before it starts.
func FuzzYjsRanges(f *testing.F) {
	f.Add(mustHexF("0201ac0200040101740a68c3a96c6c6ff09f9880010500c4ac0201ac020202616201ac02010001"))
	f.Add(yjsCharsUpdate(7, 0, 3))
	f.Add([]byte{0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		ranges, err := yjsRanges(b, nil)
		if err != nil {
			return
		}
		for _, r := range ranges {
			if r.end < r.start {
				t.Fatalf("range %v ends before it starts", r)
			}
		}
	})
}

// FuzzParseProcStat: the /proc parsers never panic.
func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1234 (tandem) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 8 0 100 0 0"))
	f.Add([]byte("VmRSS:\t   20480 kB\n"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseProcStatCPU(b)
		_, _ = parseVmRSS(b)
	})
}

func mustHexF(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestURLList(t *testing.T) {
	o, err := parseBench(strings.Fields("--url ws://127.0.0.1:1,ws://127.0.0.1:2 --url ws://localhost:3 --clients 30 --docs 3"), io.Discard)
	if err != nil {
		t.Fatalf("parseBench: %v", err)
	}
	want := []string{"ws://127.0.0.1:1", "ws://127.0.0.1:2", "ws://localhost:3"}
	if strings.Join(o.urls, " ") != strings.Join(want, " ") || o.url != want[0] {
		t.Errorf("urls %q, url %q; want %q, %q", o.urls, o.url, want, want[0])
	}
	if o, err = parseBench(nil, io.Discard); err != nil || len(o.urls) != 1 || o.url != "ws://127.0.0.1:8080" {
		t.Errorf("default urls %q, url %q, %v; want the one default", o.urls, o.url, err)
	}
}

func TestClusterArgs(t *testing.T) {
	ports := []int{101, 201, 301, 102, 202, 302, 103, 203, 303}
	addr, args := clusterArgs(1, 3, ports, "/d")
	want := "--embedded-nats --node-id n2 --nats-listen 127.0.0.1:202 --nats-cluster-listen 127.0.0.1:302 " +
		"--nats-peers nats-route://127.0.0.1:301,nats-route://127.0.0.1:302,nats-route://127.0.0.1:303 --nats-store /d/n2-nats"
	if addr != "127.0.0.1:102" || strings.Join(args, " ") != want {
		t.Errorf("clusterArgs = %q, %q; want 127.0.0.1:102, %q", addr, strings.Join(args, " "), want)
	}
}

func TestRampStepOf(t *testing.T) {
	ok := func() *latencyResult {
		return &latencyResult{TargetOpsS: 100, AchievedOpsS: 99, latencySummary: latencySummary{N: 10, P99ms: 40},
			Ack: latencySummary{N: 10, P99ms: 60}, Cross: &latencySummary{P99ms: 45}}
	}
	tests := []struct {
		name    string
		change  func(r *latencyResult)
		wantWhy string
	}{
		{name: "holds", change: func(*latencyResult) {}},
		{name: "ack", change: func(r *latencyResult) { r.Ack.P99ms = 100 }, wantWhy: "ack p99"},
		{name: "no acks", change: func(r *latencyResult) { r.Ack.N = 0 }, wantWhy: "ack p99"},
		{name: "delivery", change: func(r *latencyResult) { r.P99ms = 120 }, wantWhy: "delivery p99"},
		{name: "dropped", change: func(r *latencyResult) { r.Dropped = 1 }, wantWhy: "deliveries missing"},
		{name: "slow", change: func(r *latencyResult) { r.AchievedOpsS = 90 }, wantWhy: "rate not reached"},
		{name: "closed", change: func(r *latencyResult) { r.ClosedClients = 1 }, wantWhy: "failed"},
	}
	for _, tt := range tests {
		r := ok()
		tt.change(r)
		st := rampStepOf("cluster", 2, r, 100*time.Millisecond)
		if st.Holds != (tt.wantWhy == "") || !strings.Contains(st.Why, tt.wantWhy) || st.CrossP99ms != 45 {
			t.Errorf("%s: holds %t, why %q, cross p99 %v; want holds %t, why %q, cross p99 45", tt.name, st.Holds, st.Why, st.CrossP99ms, tt.wantWhy == "", tt.wantWhy)
		}
	}
}

func TestFailoverDialer(t *testing.T) {
	live, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	go func() {
		for {
			c, err := live.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dead, err := freeLoopbackPorts(2)
	if err != nil {
		t.Fatal(err)
	}
	deadA, deadB := "127.0.0.1:"+strconv.Itoa(dead[0]), "127.0.0.1:"+strconv.Itoa(dead[1])
	var got string
	dial := failoverDialer([]string{deadA, deadB, live.Addr().String()}, 1, func(a string) { got = a })
	c, err := dial(context.Background(), "tcp", deadA)
	if err != nil {
		t.Fatalf("dial with one node live: %v", err)
	}
	c.Close()
	if got != live.Addr().String() {
		t.Errorf("connected to %q; want the live node %q", got, live.Addr())
	}
	if _, err := failoverDialer([]string{deadA, deadB}, 0, nil)(context.Background(), "tcp", deadA); err == nil {
		t.Errorf("dial with every node down = nil error; want one")
	}
}
