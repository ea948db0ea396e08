package room

import (
	"fmt"
	"testing"
)

func TestMergePresence(t *testing.T) {
	pe := func(cid, clock uint64, s string) PresenceEntry {
		e := PresenceEntry{ClientID: cid, Clock: clock}
		if s != "" {
			e.State = []byte(s)
		}
		return e
	}
	tests := []struct {
		name   string
		local  []PresenceEntry
		remote []PresenceEntry
		except uint64
		want   []PresenceEntry
	}{
		{"nothing remote", []PresenceEntry{pe(5, 1, "x")}, nil, 0, []PresenceEntry{pe(5, 1, "x")}},
		{"nothing local", nil, []PresenceEntry{pe(9, 2, "y"), pe(3, 1, "")}, 0, []PresenceEntry{pe(3, 1, ""), pe(9, 2, "y")}},
		{"sorted by client", []PresenceEntry{pe(5, 1, "x")}, []PresenceEntry{pe(9, 2, "y"), pe(1, 1, "z")}, 0,
			[]PresenceEntry{pe(1, 1, "z"), pe(5, 1, "x"), pe(9, 2, "y")}},
		{"a local entry wins over a remote one", []PresenceEntry{pe(5, 1, "")}, []PresenceEntry{pe(5, 7, "remote")}, 0,
			[]PresenceEntry{pe(5, 1, "")}},
		{"the joiner's own client is left out", nil, []PresenceEntry{pe(5, 7, "own"), pe(6, 1, "other")}, 5,
			[]PresenceEntry{pe(6, 1, "other")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mergePresence(tt.local, tt.remote, tt.except)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("mergePresence(%v, %v, %d) = %v; want %v", tt.local, tt.remote, tt.except, got, tt.want)
			}
		})
	}
}

// TestMergePresenceCopies: what mergePresence adds never reorders the local slice, which an
// Announce effect listed before the merge still holds.
func TestMergePresenceCopies(t *testing.T) {
	local := make([]PresenceEntry, 1, 4)
	local[0] = PresenceEntry{ClientID: 5, Clock: 1, State: []byte("x")}
	merged := mergePresence(local, []PresenceEntry{{ClientID: 1, Clock: 1, State: []byte("r")}}, 0)
	if len(merged) != 2 || local[0].ClientID != 5 || local[:2][1].ClientID != 0 {
		t.Fatalf("mergePresence changed its local argument: local %v, merged %v", local[:2], merged)
	}
}
