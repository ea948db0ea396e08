package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The server's commit histograms over a measurement window: tandem_commit_seconds (an append's
// whole wait: the storage queue and the sync), tandem_commit_sync_seconds (the disk's part: one
// group's write and fdatasync), tandem_commit_group_appends (appends per sync) and
// tandem_commit_apply_seconds (the bbolt commits behind the acks). The bench scrapes /metrics at
// both ends of the window and reports the difference, so that a row separates the disk from the
// queue without anyone reading the server's metrics by hand.

// commitSplit is the row's "commit" field: per histogram, the observations in the window and the
// upper bounds of the buckets holding their median, 90th and 99th percentiles (a histogram knows
// no finer).
type commitSplit map[string]histSummary

type histSummary struct {
	N     int64   `json:"n"`
	P50le float64 `json:"p50_le"`
	P90le float64 `json:"p90_le"`
	P99le float64 `json:"p99_le"`
}

// histCounts are the cumulative bucket counts of the commit histograms, by name, then bound.
type histCounts map[string][]bucketCount

type bucketCount struct {
	le    float64
	count int64
}

// scrapeCommit reads the commit histograms from the server behind wsURL; nil if it has none (the
// anchors) or cannot be reached.
func scrapeCommit(ctx context.Context, wsURL string) histCounts {
	u := strings.Replace(strings.Replace(wsURL, "wss://", "https://", 1), "ws://", "http://", 1)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(u, "/")+"/metrics", nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	return parseCommitHists(io.LimitReader(resp.Body, 16<<20))
}

// parseCommitHists reads the tandem_commit_* bucket lines of a Prometheus text exposition.
func parseCommitHists(r io.Reader) histCounts {
	out := make(histCounts)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, `_bucket{le="`)
		if !ok || !strings.HasPrefix(name, "tandem_commit") {
			continue
		}
		bound, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(bound, 64)
		if bound == "+Inf" {
			le, err = 0, nil // the last bucket; reported as 0 ("beyond the last bound")
		}
		n, err2 := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || err2 != nil {
			continue
		}
		out[name] = append(out[name], bucketCount{le: le, count: int64(n)})
	}
	return out
}

// splitBetween summarises the observations between two scrapes; nil if either is missing.
func splitBetween(before, after histCounts) commitSplit {
	if before == nil || after == nil {
		return nil
	}
	out := make(commitSplit)
	for name, b := range after {
		a := before[name]
		counts := make([]bucketCount, len(b))
		for i := range b {
			counts[i] = b[i]
			if i < len(a) && a[i].le == b[i].le {
				counts[i].count -= a[i].count
			}
		}
		total := counts[len(counts)-1].count
		if total <= 0 {
			continue
		}
		q := func(p float64) float64 {
			for _, c := range counts {
				if float64(c.count) >= p*float64(total) {
					return c.le
				}
			}
			return 0
		}
		out[name] = histSummary{N: total, P50le: q(0.5), P90le: q(0.9), P99le: q(0.99)}
	}
	return out
}

// String is the commit split in one line for the progress log.
func (c commitSplit) String() string {
	var b strings.Builder
	for _, name := range []string{"tandem_commit_seconds", "tandem_commit_sync_seconds", "tandem_commit_group_appends", "tandem_commit_apply_seconds"} {
		if h, ok := c[name]; ok {
			fmt.Fprintf(&b, "%s n=%d p50<=%g p90<=%g p99<=%g; ", strings.TrimPrefix(name, "tandem_"), h.N, h.P50le, h.P90le, h.P99le)
		}
	}
	return strings.TrimSuffix(b.String(), "; ")
}
