package transport

import (
	"testing"
	"time"
)

// TestBurstRelease checks when the keepalive scanner returns memory: once a burst of connections
// or of partial messages is over, not while it lasts, not for small changes, and not twice
// within releaseEvery.
func TestBurstRelease(t *testing.T) {
	type obs struct {
		at      time.Duration
		conns   int
		partial int64
		want    bool
	}
	tests := []struct {
		name string
		seq  []obs
	}{
		{"a crowd leaves", []obs{{0, 10, 0, false}, {time.Minute, 1000, 0, false}, {61 * time.Second, 10, 0, true}, {62 * time.Second, 10, 0, false}}},
		{"a small crowd leaves", []obs{{0, 400, 0, false}, {time.Minute, 0, 0, false}}},
		{"half of a large crowd stays", []obs{{0, 3000, 0, false}, {time.Minute, 1600, 0, false}, {2 * time.Minute, 1500, 0, true}}},
		{"unfinished messages go", []obs{{0, 100, 64 << 20, false}, {time.Minute, 100, 1 << 20, false}, {2 * time.Minute, 100, 0, true}}},
		{"small unfinished messages go", []obs{{0, 100, 8 << 20, false}, {time.Minute, 100, 0, false}}},
		{"not twice within releaseEvery", []obs{
			{time.Minute, 1000, 0, false}, {61 * time.Second, 0, 0, true},
			{62 * time.Second, 1000, 0, false}, {63 * time.Second, 0, 0, false},
			{63*time.Second + releaseEvery, 0, 0, true},
		}},
	}
	for _, tt := range tests {
		freed := 0
		b := burstRelease{free: func() { freed++ }}
		start := time.Unix(1e9, 0)
		for i, o := range tt.seq {
			before := freed
			got := b.observe(o.conns, o.partial, start.Add(o.at))
			if got != o.want || freed-before != map[bool]int{true: 1, false: 0}[o.want] {
				t.Errorf("%s: observation %d (%d connections, %d partial bytes) = %v, %d releases; want %v", tt.name, i, o.conns, o.partial, got, freed-before, o.want)
			}
		}
	}
}
