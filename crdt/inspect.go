package crdt

import (
	"fmt"
	"slices"
)

// InspectUpdate decodes an update (0x01) or a snapshot (0x02, 0x05) and describes it
// without applying it: who authored which clocks, which clients its delete set
// names, its size in units. It checks the bytes as Apply does, except for the
// checks that need a document. It is safe for concurrent use.
func InspectUpdate(b []byte) (UpdateInfo, error) {
	if len(b) == 0 {
		return UpdateInfo{}, fmt.Errorf("%w: empty input", ErrMalformedUpdate)
	}
	var u *update
	switch b[0] {
	case formatUpdate:
		var err error
		if u, err = decodeUpdate(b); err != nil {
			return UpdateInfo{}, err
		}
	case formatSnapshot, formatSnapshot2, formatSnapshot3:
		s, err := decodeSnapshot(b)
		if err != nil {
			return UpdateInfo{}, err
		}
		u = s.toUpdate()
	default:
		return UpdateInfo{}, fmt.Errorf("%w: format byte 0x%02x", ErrMalformedUpdate, b[0])
	}
	info := UpdateInfo{Format: b[0], DeleteRanges: len(u.dels)}
	roots := make(map[rootKey]bool)
	for _, bl := range u.blocks {
		if k := len(info.Authors); k == 0 || info.Authors[k-1] != bl.client {
			info.Authors = append(info.Authors, bl.client)
		}
		info.Ranges = append(info.Ranges, ClockRange{Client: bl.client, Start: bl.start(), End: bl.end()})
		for _, op := range bl.ops {
			info.Units += int(op.n)
			switch op.kind {
			case opText:
				info.TextUnits += int(op.n)
				roots[rootKey{KindText, op.root}] = true
			case opMap:
				roots[rootKey{KindMap, op.root}] = true
			case opMark, opAttr:
				roots[rootKey{KindText, op.root}] = true
			}
		}
	}
	for _, r := range u.dels {
		if k := len(info.DeleteClients); k == 0 || info.DeleteClients[k-1] != r.client {
			info.DeleteClients = append(info.DeleteClients, r.client)
		}
	}
	for k := range roots {
		info.Roots = append(info.Roots, RootInfo{Name: k.name, Kind: k.kind})
	}
	slices.SortFunc(info.Roots, func(a, b RootInfo) int {
		return compareRootKeys(rootKey{a.Kind, a.Name}, rootKey{b.Kind, b.Name})
	})
	return info, nil
}
