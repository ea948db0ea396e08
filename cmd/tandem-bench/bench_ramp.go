package main

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// rampStep is one step of --mode ramp: the latency mode at one rate against one target.
type rampStep struct {
	Target        string  `json:"target"`
	RatePerClient float64 `json:"rate_per_client"`
	TargetOpsS    float64 `json:"target_ops_s"`
	AchievedOpsS  float64 `json:"achieved_ops_s"`
	AckP50ms      float64 `json:"ack_p50_ms"`
	AckP99ms      float64 `json:"ack_p99_ms"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	// CrossP99ms is the delivery p99 between clients of different nodes (several nodes only).
	CrossP99ms float64 `json:"cross_p99_ms,omitempty"`
	ServerPct  float64 `json:"server_cpu_pct"`
	GenPct     float64 `json:"gen_cpu_pct"`
	OtherPct   float64 `json:"other_cpu_pct"`
	// ServerUsPerEdit is the CPU of every node of the target over the window per edit sent in it.
	ServerUsPerEdit float64 `json:"server_us_per_edit"`
	Dropped         int64   `json:"dropped"`
	Failures        int     `json:"failures"` // connections refused or closed, and edits that failed
	// Holds is whether the step kept its rate with both p99s under the limit (holds).
	Holds bool   `json:"holds"`
	Why   string `json:"why,omitempty"` // why it did not
}

// rampResult is the JSON result of --mode ramp.
type rampResult struct {
	Label    string     `json:"label,omitempty"`
	Mode     string     `json:"mode"`
	Clients  int        `json:"clients"`
	Docs     int        `json:"docs"`
	P99Limit float64    `json:"p99_limit_ms"`
	WindowS  float64    `json:"window_s"`
	Steps    []rampStep `json:"steps"`
	// Sustained is, per target, the achieved edit rate (edits/s, all clients) of the highest step
	// that held; 0 if none did.
	Sustained map[string]float64 `json:"sustained_ops_s"`
}

// benchRamp runs the latency mode at each rate of --rates, on fresh documents each time, against
// the target the flags name (the cluster, or the --url servers) and, with --compare-single, right
// after each of the cluster's steps against the one bbolt node; it reports the highest rate at
// which each target held: the rate achieved, no delivery lost, ack p99 and delivery p99 under
// --p99-limit. A target that fails --give-up steps in a row is not driven further.
func benchRamp(ctx context.Context, e *benchEnv) (*rampResult, error) {
	o := e.o
	rates, err := parseRates(o.rates)
	if err != nil {
		return nil, err
	}
	first := benchTarget{name: "servers", urls: e.urls, pids: e.serverPIDs()}
	if e.cluster != nil {
		first = e.cluster.target()
	} else if len(e.urls) == 1 {
		first.name = "server"
	}
	targets := []benchTarget{first}
	if e.single != nil {
		targets = append(targets, *e.single)
	}
	res := &rampResult{Label: o.label, Mode: "ramp", Clients: o.clients, Docs: o.docs,
		P99Limit: float64(o.p99Limit) / float64(time.Millisecond), WindowS: o.duration.Seconds(), Sustained: map[string]float64{}}
	failed := make([]int, len(targets)) // failures in a row
	prefix := e.o.docPrefix
	for k, rate := range rates {
		for ti, t := range targets {
			if o.giveUp > 0 && failed[ti] >= o.giveUp {
				continue
			}
			e.use(t)
			e.o.rate = rate
			e.o.docPrefix = prefix + "-" + t.name + "-" + strconv.Itoa(k)
			e.o.label = t.name
			lr, err := benchLatency(ctx, e)
			if err != nil {
				return nil, fmt.Errorf("bench: ramp %s at %g/s per client: %w", t.name, rate, err)
			}
			st := rampStepOf(t.name, rate, lr, o.p99Limit)
			res.Steps = append(res.Steps, st)
			if st.Holds {
				failed[ti] = 0
				res.Sustained[t.name] = max(res.Sustained[t.name], st.AchievedOpsS)
			} else {
				failed[ti]++
			}
			e.logf("ramp: %s at %g edits/s (%g/s per client): ack p99 %.1f ms, delivery p99 %.1f ms; holds %t %s",
				t.name, st.TargetOpsS, rate, st.AckP99ms, st.P99ms, st.Holds, st.Why)
		}
	}
	return res, nil
}

// rampStepOf judges one latency result against the limit.
func rampStepOf(target string, rate float64, lr *latencyResult, limit time.Duration) rampStep {
	st := rampStep{Target: target, RatePerClient: rate, TargetOpsS: lr.TargetOpsS, AchievedOpsS: lr.AchievedOpsS,
		AckP50ms: lr.Ack.P50ms, AckP99ms: lr.Ack.P99ms, P50ms: lr.P50ms, P99ms: lr.P99ms,
		ServerPct: lr.ServerPct, GenPct: lr.GenPct, OtherPct: lr.OtherPct, ServerUsPerEdit: lr.ServerUsPerEdit, Dropped: lr.Dropped,
		Failures: lr.ConnectFailures + lr.ClosedClients + int(lr.EditErrors)}
	if lr.Cross != nil {
		st.CrossP99ms = lr.Cross.P99ms
	}
	lim := float64(limit) / float64(time.Millisecond)
	switch {
	case st.Failures > 0:
		st.Why = "connections or edits failed"
	case st.Dropped > 0:
		st.Why = "deliveries missing"
	case st.AchievedOpsS < 0.95*st.TargetOpsS:
		st.Why = "rate not reached"
	case lr.Ack.N == 0 || st.AckP99ms >= lim:
		st.Why = "ack p99 over the limit"
	case st.P99ms >= lim:
		st.Why = "delivery p99 over the limit"
	default:
		st.Holds = true
	}
	return st
}
