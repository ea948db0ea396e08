package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestCommitSplit(t *testing.T) {
	exposition := func(counts ...string) string {
		bounds := []string{"0.001", "0.01", "0.1", "+Inf"}
		var b strings.Builder
		b.WriteString("# TYPE tandem_commit_sync_seconds histogram\n")
		for i, c := range counts {
			b.WriteString(`tandem_commit_sync_seconds_bucket{le="` + bounds[i] + `"} ` + c + "\n")
		}
		b.WriteString("tandem_commit_sync_seconds_sum 1.5\ntandem_commit_sync_seconds_count " + counts[len(counts)-1] + "\n")
		b.WriteString(`tandem_broadcast_seconds_bucket{le="0.001"} 7` + "\n")
		return b.String()
	}
	tests := []struct {
		name          string
		before, after string
		want          commitSplit
	}{
		{"all fast", exposition("0", "0", "0", "0"), exposition("100", "100", "100", "100"),
			commitSplit{"tandem_commit_sync_seconds": {N: 100, P50le: 0.001, P90le: 0.001, P99le: 0.001}}},
		{"the window only", exposition("50", "50", "50", "50"), exposition("60", "140", "149", "150"),
			commitSplit{"tandem_commit_sync_seconds": {N: 100, P50le: 0.01, P90le: 0.01, P99le: 0.1}}},
		{"beyond the last bound", exposition("0", "0", "0", "0"), exposition("0", "0", "0", "10"),
			commitSplit{"tandem_commit_sync_seconds": {N: 10, P50le: 0, P90le: 0, P99le: 0}}},
		{"nothing in the window", exposition("5", "5", "5", "5"), exposition("5", "5", "5", "5"), commitSplit{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitBetween(parseCommitHists(strings.NewReader(tt.before)), parseCommitHists(strings.NewReader(tt.after)))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("splitBetween() = %v; want %v", got, tt.want)
			}
		})
	}
	if got := splitBetween(nil, parseCommitHists(strings.NewReader(exposition("1", "1", "1", "1")))); got != nil {
		t.Errorf("splitBetween(nil, ...) = %v; want nil (no metrics, as from the anchors)", got)
	}
}
