package crdt

import (
	"fmt"
	"reflect"
	"slices"
)

// CheckRichInvariants checks the rich state of d (richtext.go): visible
// embeds are runs of one item with their JSON; marks name items of their
// root and are kept in the total order per name; a client's rich units are
// ascending by clock; attribute winners are not flagged lost; the mark index,
// if made, agrees with placing every mark through the tree.
func CheckRichInvariants(d *Doc) error {
	if err := CheckInvariants(d); err != nil {
		return err
	}
	for name, t := range d.texts {
		for l := t.firstLeaf; l != nil; l = l.next {
			for _, it := range l.items {
				if it.embed && !it.deleted {
					if it.n != 1 {
						return fmt.Errorf("text %q: embed (%d,%d) is a run of %d", name, it.cs.id, it.clock, it.n)
					}
					if t.rich == nil || t.rich.embeds[it.id(0)] == nil {
						return fmt.Errorf("text %q: embed (%d,%d) without its value", name, it.cs.id, it.clock)
					}
				}
			}
		}
		rt := t.rich
		if rt == nil {
			continue
		}
		n := 0
		for mname, ops := range rt.byName {
			n += len(ops)
			if !slices.IsSortedFunc(ops, compareMarks) {
				return fmt.Errorf("text %q: marks %q out of order", name, mname)
			}
			for _, m := range ops {
				if m.root != t || m.name != mname || m.lamport > rt.lamport {
					return fmt.Errorf("text %q: mark (%d,%d) misfiled", name, m.cs.id, m.clock)
				}
				for _, a := range [2]anchor{m.start, m.end} {
					if a.kind != RelBefore && a.kind != RelAfter {
						continue
					}
					if it := d.findItem(a.id); it == nil || it.root != t {
						return fmt.Errorf("text %q: mark (%d,%d) anchored on %v, not an item of the text", name, m.cs.id, m.clock, a.id)
					}
				}
			}
		}
		if n != rt.nMarks {
			return fmt.Errorf("text %q: %d marks counted, %d kept", name, rt.nMarks, n)
		}
		if err := d.checkMarkIndex(t); err != nil {
			return fmt.Errorf("text %q: mark index: %w", name, err)
		}
		if rt.index != nil && t.root.vis > 0 {
			if got, want := d.spans(t, 0, t.root.vis), d.sliceOracle(t, 0, t.root.vis); !reflect.DeepEqual(got, want) {
				return fmt.Errorf("text %q: spans through the mark index %v; placing every mark %v", name, got, want)
			}
		}
		for target, keys := range rt.attrs {
			for key, a := range keys {
				if a.lost || a.target != target || a.key != key || a.lamport > rt.lamport {
					return fmt.Errorf("text %q: attribute (%d,%d) misfiled", name, a.cs.id, a.clock)
				}
			}
		}
	}
	for c, cs := range d.clients {
		if !slices.IsSortedFunc(cs.rich, func(a, b richUnit) int { return int(a.clock()) - int(b.clock()) }) {
			return fmt.Errorf("client %d: rich units out of order", c)
		}
		for i := 1; i < len(cs.rich); i++ {
			if cs.rich[i].clock() == cs.rich[i-1].clock() {
				return fmt.Errorf("client %d: two rich units at %d", c, cs.rich[i].clock())
			}
		}
	}
	return nil
}
