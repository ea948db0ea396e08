package crdt

import (
	"bytes"
	"slices"
	"unicode/utf8"
)

// changes collects what an Apply changed, per root, in order.
// The first root changed is held in the struct (most Applies change one), the
// others in more.
type changes struct {
	first   changeAcc
	more    []*changeAcc
	touched map[mapKey][]byte // map keys assigned, with their visible value before (nil: absent)
	rich    []richChange      // marks and attributes integrated (richtext.go)
}

// changeAcc is a Change being collected. The insertion of its last edit
// grows in buf while open (Insert is written when it closes), so that n
// integrations that continue each other cost O(n), not O(n²). An insertion
// made of one run is not copied into buf: lone refers to the run's content,
// which lasts until the Apply returns.
type changeAcc struct {
	Change
	buf  []rune
	lone []rune // the open insertion while it is one run (buf unused)
	open bool
}

// close writes the growing insertion into the last edit.
func (x *changeAcc) close() {
	if x.open {
		if x.lone != nil {
			x.Edits[len(x.Edits)-1].Insert = string(x.lone)
		} else {
			x.Edits[len(x.Edits)-1].Insert = string(x.buf)
		}
		x.buf, x.lone, x.open = x.buf[:0], nil, false
	}
}

// insLen returns the length of the open insertion.
func (x *changeAcc) insLen() int {
	if x.lone != nil {
		return len(x.lone)
	}
	return len(x.buf)
}

type mapKey struct {
	m   *mapRoot
	key string
}

// touch notes that key of m is about to be assigned; list reports it if its
// visible value in the end differs from the one before the first assignment.
// A nil c records nothing.
func (c *changes) touch(m *mapRoot, key string) {
	if c == nil {
		return
	}
	if c.touched == nil {
		c.touched = make(map[mapKey][]byte)
	}
	k := mapKey{m, key}
	if _, ok := c.touched[k]; ok {
		return
	}
	var was []byte
	if a := m.entries[key]; a != nil {
		was = a.value
	}
	c.touched[k] = was
}

func (c *changes) get(name string, kind RootKind) *changeAcc {
	if c.first.Kind == 0 {
		c.first.Root, c.first.Kind = name, kind
		return &c.first
	}
	if c.first.Root == name && c.first.Kind == kind {
		return &c.first
	}
	for _, x := range c.more {
		if x.Root == name && x.Kind == kind {
			return x
		}
	}
	x := &changeAcc{Change: Change{Root: name, Kind: kind}}
	c.more = append(c.more, x)
	return x
}

// ins records that rs was inserted at visible index pos.
func (c *changes) ins(root string, pos int, rs []rune) {
	x := c.get(root, KindText)
	if k := len(x.Edits); k > 0 {
		last := &x.Edits[k-1]
		switch {
		case x.open && pos == last.Pos+x.insLen():
			if x.lone != nil {
				x.buf, x.lone = append(x.buf[:0], x.lone...), nil
			}
			x.buf = append(x.buf, rs...)
			return
		case !x.open && last.Delete == 0 && pos == last.Pos+utf8.RuneCountInString(last.Insert):
			x.buf = append(append(x.buf[:0], []rune(last.Insert)...), rs...)
			x.open = true
			return
		}
	}
	x.close()
	x.Edits = append(x.Edits, TextEdit{Pos: pos})
	if len(rs) > 0 {
		x.lone, x.open = rs, true
	} else {
		x.buf, x.open = x.buf[:0], true
	}
}

// insText records that the text s was inserted at visible index pos.
func (c *changes) insText(root string, pos int, s string) {
	x := c.get(root, KindText)
	x.close()
	x.Edits = append(x.Edits, TextEdit{Pos: pos, Insert: s})
}

// del records that n code points were deleted at visible index pos.
func (c *changes) del(root string, pos, n int) {
	x := c.get(root, KindText)
	x.close()
	if k := len(x.Edits); k > 0 {
		last := &x.Edits[k-1]
		if last.Insert == "" && pos == last.Pos {
			last.Delete += n
			return
		}
	}
	x.Edits = append(x.Edits, TextEdit{Pos: pos, Delete: n})
}

// key records that the value of key changed.
func (c *changes) key(root, key string) {
	x := c.get(root, KindMap)
	x.Keys = append(x.Keys, key)
}

// list returns the changes sorted by root kind, then name, with map keys sorted.
func (c *changes) list() []Change {
	for k, was := range c.touched {
		var now []byte
		if a := k.m.entries[k.key]; a != nil {
			now = a.value
		}
		if (was == nil) != (now == nil) || !bytes.Equal(was, now) {
			c.key(k.m.name, k.key)
		}
	}
	if c.first.Kind == 0 {
		return nil
	}
	out := make([]Change, 1+len(c.more))
	for i := range out {
		x := &c.first
		if i > 0 {
			x = c.more[i-1]
		}
		x.close()
		if x.Kind == KindMap {
			slices.Sort(x.Keys)
			x.Keys = slices.Compact(x.Keys)
		}
		out[i] = x.Change
	}
	slices.SortFunc(out, func(a, b Change) int { return compareRootKeys(rootKey{a.Kind, a.Root}, rootKey{b.Kind, b.Root}) })
	return out
}
