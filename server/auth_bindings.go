package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
)

// Client ID binding (DESIGN.md, "Security and limits" and "Identity and crashes").
//
// Every unit of a CRDT update carries the client ID of its author, and the CRDT trusts it. So that
// one subject cannot write under another's identity (insert text that others see as Alice's, or
// take over her clock sequence so that her next edits are dropped as duplicates), each document
// binds a client ID to a subject and refuses updates whose new units carry a client ID bound to
// another subject. The bindings are stored with the document's metadata (key clientBindingsKey).
//
// An ID's owner is decided before anything under it can be seen by anyone else:
//
//   - A writable hello binds its client ID to the connection's subject, durably: the actor answers
//     the hello only once the bindings are stored (actor.onJoin), so the ID is never relayed (in
//     presence, broadcasts or units) while a crash could still undo its binding. The binding
//     outlives the connection: an editor that goes offline keeps its ID, and its offline edits
//     are accepted when it comes back, whoever learned the ID from its presence meanwhile.
//   - A read-only hello binds its ID only while the connection lasts (live): readers are many,
//     write nothing, and storing one binding per viewer would grow without bound.
//   - An update's new units may carry the hello's ID, an ID already bound to the same subject (an
//     earlier session's, or another tab's whose changes the client holds), or an ID the document
//     has never seen (no units, no binding, no connection: another tab of the same browser that
//     never connected, whose changes the offline store holds). Nothing else: units under an ID
//     bound to another subject, or under an unbound ID that already has units or is connected,
//     are refused (4403). IDs bound at a write are stored before the update (same storage writer).
//   - HTTP writes (POST /v1/docs/{id}/update) say no hello: an update may bind any free ID.
//
// Units that the document already has (below its state vector) may travel again in anyone's
// update and are not checked: they are duplicates, and applying them changes nothing.
//
// After a crash, can an honest client hold another subject's units that the server lost? No:
// with bindings on, the actor relays a unit to a connection of another subject only once it is
// durable (actor.relay), and answers a joiner's hello and HTTP reads only with durable content,
// so every unit another subject holds is on the server after any crash, and units under another
// subject's ID that the server lacks are always forged. The author itself re-sends its own.
//
// While the server runs open, every client is "anonymous": nothing is bound or stored, and a
// server that later gets a secret starts with no bindings.

// clientBindingsKey is the document metadata key that holds the encoded bindings.
const clientBindingsKey = "client-subjects"

// serverSubject is the subject of the server's own client ID (HTTP edits). No token can carry it:
// a token's subject is never empty.
const serverSubject = ""

// bindingsVersion is the first byte of the encoded bindings.
const bindingsVersion = 1

// errBindingsCorrupt is wrapped by decodeClientBindings for bytes it cannot read.
var errBindingsCorrupt = errors.New("server: corrupt client bindings")

// clientBindings is one document's map from client IDs to subjects. It belongs to the document's
// actor: no other goroutine touches it.
type clientBindings struct {
	open   bool                   // the server runs open: bind and check nothing
	server uint64                 // the server's own client ID (HTTP edits); 0 if not set
	bound  map[uint64]string      // stored bindings
	live   map[uint64]liveBinding // bindings of open connections, not stored
}

// liveBinding is the subject that open connections said hello with, and how many they are.
type liveBinding struct {
	subject string
	conns   int
}

// newClientBindings returns an empty set of bindings; open disables them.
func newClientBindings(open bool) *clientBindings {
	return &clientBindings{open: open, bound: make(map[uint64]string), live: make(map[uint64]liveBinding)}
}

// loadClientBindings reads the bindings of a document from its stored metadata (storage's
// DocState.DocMeta); a document without any has none yet.
func loadClientBindings(meta map[string][]byte, open bool) (*clientBindings, error) {
	b := newClientBindings(open)
	data, ok := meta[clientBindingsKey]
	if open || !ok {
		return b, nil
	}
	bound, err := decodeClientBindings(data)
	if err != nil {
		return nil, err
	}
	b.bound = bound
	return b, nil
}

// owner returns the subject that clientID is bound to: the server's, stored or live.
func (b *clientBindings) owner(clientID uint64) (string, bool) {
	if clientID == b.server && clientID != 0 {
		return serverSubject, true
	}
	if s, ok := b.bound[clientID]; ok {
		return s, true
	}
	if l, ok := b.live[clientID]; ok {
		return l.subject, true
	}
	return "", false
}

// errBoundElsewhere is the refusal of a client ID that belongs to another subject.
func errBoundElsewhere(clientID uint64) *protocol.Error {
	return protocol.Errorf(protocol.CloseForbidden, "client id %d belongs to another subject in this document", clientID)
}

// join checks a hello's client ID against the bindings and, if it is free or the subject's own,
// binds it to the subject for as long as the connection lasts (until leave), and, for a writable
// hello (write), for good. It reports whether that changed the stored bindings, in which case the
// caller stores them (persist) before answering the hello. It returns a 4403 *protocol.Error for
// an ID bound to another subject.
func (b *clientBindings) join(subject string, clientID uint64, write bool) (changed bool, err error) {
	if b.open {
		return false, nil
	}
	if s, ok := b.owner(clientID); ok && s != subject {
		return false, errBoundElsewhere(clientID)
	}
	l := b.live[clientID]
	b.live[clientID] = liveBinding{subject: subject, conns: l.conns + 1}
	if _, ok := b.bound[clientID]; write && !ok {
		b.bound[clientID] = subject
		return true, nil
	}
	return false, nil
}

// unbind forgets the stored binding of clientID, whose store failed.
func (b *clientBindings) unbind(clientID uint64) { delete(b.bound, clientID) }

// leave undoes one join of clientID.
func (b *clientBindings) leave(clientID uint64) {
	if b.open {
		return
	}
	l, ok := b.live[clientID]
	if !ok {
		return
	}
	if l.conns--; l.conns <= 0 {
		delete(b.live, clientID)
		return
	}
	b.live[clientID] = l
}

// check decides whether subject, on a connection whose hello said client ID hello (0 for an HTTP
// write, which says none), may apply an update described by info to a document whose state vector
// is sv. It returns the client IDs the update would bind to subject (call bind with them once the
// update is applied), or a 4403 *protocol.Error naming the first client ID whose new units the
// subject may not write. It changes nothing.
func (b *clientBindings) check(subject string, hello uint64, info crdt.UpdateInfo, sv crdt.StateVector) (fresh []uint64, err error) {
	if b.open {
		return nil, nil
	}
	for _, r := range info.Ranges {
		if r.End <= sv[r.Client] {
			continue // units the document has already: a duplicate
		}
		s, ok := b.owner(r.Client)
		if !ok {
			if hello != 0 && r.Client != hello && sv[r.Client] > 0 {
				// An unbound ID with units (written while the server ran open) belongs to
				// whoever says hello with it, not to a connection that names another ID.
				return nil, errNotHelloID(r.Client, hello)
			}
			fresh = append(fresh, r.Client)
			continue
		}
		if s != subject {
			return nil, errBoundElsewhere(r.Client)
		}
		if _, stored := b.bound[r.Client]; !stored {
			fresh = append(fresh, r.Client) // live only so far: store it now
		}
	}
	return fresh, nil
}

// errNotHelloID is the refusal of new units under an unbound client ID that has units already,
// from a connection whose hello named another.
func errNotHelloID(clientID, hello uint64) *protocol.Error {
	return protocol.Errorf(protocol.CloseForbidden, "client id %d is not this connection's (hello said %d) and is not bound to its subject", clientID, hello)
}

// bind binds the client IDs to subject (they were free, or live for subject) and reports whether
// anything changed, in which case the caller stores the bindings (persist) before the update.
func (b *clientBindings) bind(subject string, ids []uint64) bool {
	if b.open {
		return false
	}
	changed := false
	for _, id := range ids {
		if _, ok := b.bound[id]; !ok {
			b.bound[id] = subject
			changed = true
		}
	}
	return changed
}

// bindServer reserves the server's own client ID (used by HTTP edits), so that no token can
// write or join with it. It is not stored with the bindings: the server keeps its ID itself.
func (b *clientBindings) bindServer(clientID uint64) { b.server = clientID }

// metaPutter is the part of the store that persist needs.
type metaPutter interface {
	PutDocMetaAsync(docID, key string, value []byte, done func(error))
}

// persist hands the encoded bindings to storage. The store writes in call order, so an Append
// called after persist commits no earlier than the bindings.
func (b *clientBindings) persist(st metaPutter, docID string, done func(error)) {
	st.PutDocMetaAsync(docID, clientBindingsKey, b.encode(), done)
}

// encode returns the stored bindings: a version byte, a uvarint count, then for each binding in
// ascending client ID order a uvarint client ID and the subject as a uvarint length and its bytes.
func (b *clientBindings) encode() []byte {
	ids := make([]uint64, 0, len(b.bound))
	size := 1 + binary.MaxVarintLen64
	for id, s := range b.bound {
		ids = append(ids, id)
		size += 2*binary.MaxVarintLen64 + len(s)
	}
	slices.Sort(ids)
	out := make([]byte, 0, size)
	out = append(out, bindingsVersion)
	out = binary.AppendUvarint(out, uint64(len(ids)))
	for _, id := range ids {
		s := b.bound[id]
		out = binary.AppendUvarint(out, id)
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return out
}

// decodeClientBindings parses the output of encode. It refuses, with an error wrapping
// errBindingsCorrupt and never a panic, anything encode would not write: another version, a
// count or length past the end, client IDs out of range or not ascending, subjects that are too
// long, and trailing bytes.
func decodeClientBindings(data []byte) (map[uint64]string, error) {
	if len(data) == 0 || data[0] != bindingsVersion {
		return nil, fmt.Errorf("%w: unknown version", errBindingsCorrupt)
	}
	p := data[1:]
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(p)
		if n <= 0 || n != uvarintLen(v) { // malformed, or not in its shortest form
			return 0, false
		}
		p = p[n:]
		return v, true
	}
	count, ok := uvarint()
	// Each binding takes at least two bytes, so a count beyond half the rest is a lie; checking it
	// first keeps a hostile count from sizing the map.
	if !ok || count > uint64(len(p))/2 {
		return nil, fmt.Errorf("%w: bad count", errBindingsCorrupt)
	}
	m := make(map[uint64]string, count)
	var prev uint64
	for i := range count {
		id, ok := uvarint()
		if !ok || id == 0 || id > crdt.MaxClientID || (i > 0 && id <= prev) {
			return nil, fmt.Errorf("%w: bad client id in binding %d", errBindingsCorrupt, i)
		}
		n, ok := uvarint()
		if !ok || n > auth.MaxSubjectBytes || n > uint64(len(p)) {
			return nil, fmt.Errorf("%w: bad subject length in binding %d", errBindingsCorrupt, i)
		}
		m[id] = string(p[:n])
		p = p[n:]
		prev = id
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBindingsCorrupt, len(p))
	}
	return m, nil
}

// uvarintLen returns the length of v's shortest uvarint encoding.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// authorizeUpdate checks the authors of an update that subject sends to the actor's document
// against the document's client bindings, before the update is applied. It returns a 4422
// *protocol.Error for bytes that are no update, and a 4403 one for new units under a client ID
// bound to another subject. An update it accepts binds its new client IDs to subject at once, and
// the bindings are handed to storage before the caller appends the update, so they commit no later
// than it. (An update accepted here that the CRDT then refuses leaves its IDs bound to the subject
// that sent it; IDs are random, so that takes nothing from anyone.)
func (a *actor) authorizeUpdate(subject string, hello uint64, data []byte) error {
	if a.bindings.open {
		return nil
	}
	info, err := crdt.InspectUpdate(data)
	if err != nil {
		return protocol.Errorf(protocol.CloseInvalidUpdate, "update refused: %v", err)
	}
	fresh, err := a.bindings.check(subject, hello, info, a.stateVector())
	if err != nil {
		a.s.warns.warn(a.log, "update refused: client id of another subject", "subject", subject, "err", err)
		return err
	}
	if a.bindings.bind(subject, fresh) {
		a.bindings.persist(a.s.store, a.id, func(err error) {
			if err != nil {
				a.log.Error("storing client bindings failed", "err", err)
			}
		})
	}
	return nil
}
