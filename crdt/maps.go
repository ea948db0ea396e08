package crdt

import (
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Name returns the root's name.
func (m *Map) Name() string { return m.name }

func validKey(key string) error {
	if len(key) > MaxKeyBytes || !utf8.ValidString(key) {
		return fmt.Errorf("%w: map key of %d bytes", ErrInvalidName, len(key))
	}
	return nil
}

func validValue(v []byte) error {
	if len(v) > MaxValueBytes || !utf8.Valid(v) || !json.Valid(v) {
		return fmt.Errorf("%w: %d bytes", ErrInvalidJSON, len(v))
	}
	return nil
}

// Set assigns value, which must be valid JSON of at most MaxValueBytes, to key.
// The bytes are kept as given (copied) and never re-encoded.
func (m *Map) Set(key string, value json.RawMessage) error {
	if err := validValue(value); err != nil {
		return err
	}
	return m.assign(key, slices.Clone([]byte(value)), false)
}

// Delete removes key. Deleting an absent key still records the deletion, so
// that it overrides concurrent assignments the document has not seen.
func (m *Map) Delete(key string) error { return m.assign(key, nil, true) }

func (m *Map) assign(key string, value []byte, tomb bool) error {
	d := m.doc
	if err := validName(m.name); err != nil {
		return err
	}
	if err := validKey(key); err != nil {
		return err
	}
	if d.own.next+1 > maxVarint {
		return ErrClockOverflow
	}
	r := d.mapRoot(m.name, true)
	a := &assign{cs: d.own, clock: d.own.next, root: r, key: key, lamport: 1, value: value}
	if tomb {
		a.value = nil
	}
	if w := r.entries[key]; w != nil {
		a.lamport = w.lamport + 1
	}
	d.own.next++
	d.version++
	d.addAssign(a)
	return nil
}

// addAssign integrates a, and reports whether it became the winner of its key.
func (d *Doc) addAssign(a *assign) bool {
	cs := a.cs
	cs.asgs = append(cs.asgs, a)
	w := a.root.entries[a.key]
	if w != nil && !a.beats(w) {
		d.lose(a)
		return false
	}
	if w != nil {
		d.lose(w)
	}
	a.root.entries[a.key] = a
	return true
}

// lose marks a as no longer the winner of its key; its clock becomes a skip.
// The client's list of assignments drops the losers once they are the majority.
func (d *Doc) lose(a *assign) {
	a.lost = true
	a.value = nil
	cs := a.cs
	cs.lost++
	if cs.lost > 32 && cs.lost > len(cs.asgs)/2 {
		cs.asgs = slices.DeleteFunc(cs.asgs, func(x *assign) bool { return x.lost })
		cs.lost = 0
	}
}

// Get returns the value of key, or false if the key is absent.
func (m *Map) Get(key string) (json.RawMessage, bool) {
	r := m.doc.mapRoot(m.name, false)
	if r == nil {
		return nil, false
	}
	a := r.entries[key]
	if a == nil || a.value == nil {
		return nil, false
	}
	return json.RawMessage(slices.Clone(a.value)), true
}

// Keys returns the keys present (not deleted), sorted.
func (m *Map) Keys() []string {
	r := m.doc.mapRoot(m.name, false)
	if r == nil {
		return nil
	}
	keys := make([]string, 0, len(r.entries))
	for k, a := range r.entries {
		if a.value != nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
