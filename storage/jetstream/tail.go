package jetstream

import (
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
)

// Follow subscribes conn to the republished entries of the log (doc, epoch) and calls fn with
// each, in the order they arrive, on the subscription's goroutine. A delivery lacks nothing a
// Follower needs: the stream adds the headers Nats-Sequence and Nats-Last-Sequence (the
// previous sequence of the same subject) when it republishes. Deliveries are at most once; the
// Follower detects what is lost. A message without valid headers is skipped, and so is one
// without a node's signature when the nodes sign their entries (Config.EntryKey): skipped is
// then called, if not nil, so that the owner reads the log at once, since what the stream holds
// there (another node's entry under another key, a foreign entry) would otherwise wait for the
// next delivery.
//
// The caller unsubscribes when done. Subscribe before loading, so that nothing stored between
// the load and the subscription is missed (the Follower drops what the load already holds).
func (b *Backend) Follow(conn *nats.Conn, doc string, epoch uint64, fn func(Delivery), skipped func()) (*nats.Subscription, error) {
	subj := b.RepublishSubject(doc, epoch)
	sub, err := conn.Subscribe(subj, func(m *nats.Msg) {
		d, ok, unsigned := b.delivery(m)
		switch {
		case ok:
			fn(d)
		case unsigned && skipped != nil:
			skipped()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: follow %s: %w", subj, err)
	}
	return sub, nil
}

// UnsignedDeliveries returns how many live deliveries were skipped for want of a node's
// signature (Follow): entries of nodes with another key, or without one, and messages sent
// straight to the republishing subjects.
func (b *Backend) UnsignedDeliveries() uint64 { return b.unsigned.Load() }

// delivery returns the delivery m carries; ok is false for a message without valid sequence
// headers, and for one without a node's signature when the nodes sign their entries (unsigned
// is then true).
func (b *Backend) delivery(m *nats.Msg) (d Delivery, ok, unsigned bool) {
	seq, err := strconv.ParseUint(m.Header.Get(nats.JSSequence), 10, 64)
	if err != nil || seq == 0 {
		return Delivery{}, false, false
	}
	prev, err := strconv.ParseUint(m.Header.Get(nats.JSLastSequence), 10, 64)
	if err != nil {
		return Delivery{}, false, false
	}
	foreign := b.foreign(m.Subject, m.Header, m.Data)
	if foreign && b.entryKey != nil {
		// The nodes sign their entries: a delivery without a node's signature may not come from
		// the stream at all (anything that can publish on the republishing subjects can send
		// one, with any sequence). Skipped, it is a gap to the next delivery, and what the stream
		// holds there is read from the stream.
		b.unsigned.Add(1)
		return Delivery{}, false, true
	}
	return Delivery{Seq: seq, Prev: prev, Data: m.Data, Foreign: foreign}, true, false
}
