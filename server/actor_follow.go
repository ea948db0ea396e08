package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/room"
	"github.com/tandemhq/tandem/storage/jetstream"
)

// Following the log (cluster nodes only, docs/cluster.md).
//
// On a cluster node every open document follows its log in JetStream, so that what other nodes
// append reaches this node's replica and its editors. The actor subscribes to the log's
// republished entries right after its load, and feeds them to a jetstream.Follower, which says
// what to apply, in log order, and which gaps to read; the actor applies those entries to its
// replica and relays what they changed to its connections as a remote update: nothing is
// appended again and nothing is acknowledged, as the entries are already durable. The cursor
// starts at the last position the load read and moves only through entries applied, the node's
// own included (they come back republished like the others; applying them again changes
// nothing). What an entry means for the members and the saves is the core's decision
// (room.Core: Apply with Applied.Remote relays it, with no append and no ack; Followed tells it
// the cursor, and a compaction folds the log up to the cursor, never past it: everything up to
// it is in the replica).
//
// Reads of the log run on one goroutine at a time per document: a repair when a delivery shows a
// gap, the catch-up right after the subscription (what was stored between the load and it), a read
// at once when a delivery without a node's signature was skipped (jetstream.Backend.Follow), and a
// check of the tail tailCheckEvery after the last read, which finds a lost delivery that nothing
// followed. A read that falls short (a failure, a lagging server) is made again after
// shortReadRetry; the cursor never moves past an entry not applied. A read that finds the log
// purged past the cursor (a compaction on another node) merges the snapshot that replaced it
// first. A read that finds the document at another epoch, or a notice of deletion from another
// node, closes the document with 4404, as a deletion on this node does (room.Core.Gone).

// follow is an actor's following of its document's log. It belongs to the actor's goroutine,
// except ctx, the subscriptions and wg, which the subscription callbacks and the read goroutine
// use as documented.
type follow struct {
	f       *jetstream.Follower
	epoch   uint64
	sub     *nats.Subscription // the republished entries
	ctl     *nats.Subscription // the document's notices
	ctx     context.Context    // ends when the actor stops following
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the read goroutine
	reading bool           // a read is in flight or waits
	kick    chan struct{}  // wakes a read that waits
	// cursor is the follower's cursor as the actor last published it (followed): a read starts
	// after it, and a check of the tail is skipped when it moved meanwhile.
	cursor atomic.Uint64
}

// followed publishes the follower's cursor to the read goroutine, and tells the core where the
// following stands (room.Core.Followed: a save folds the log no further).
func (a *actor) followed(fl *follow) {
	fl.cursor.Store(fl.f.Last())
	a.core.Followed(fl.f.Last())
}

// startFollow subscribes to the document's log and notices and starts the catch-up read, once
// the load has succeeded, and returns what the core is to know of the load: a cluster node's
// document, followed from the position the load read. On a single node it does nothing.
func (a *actor) startFollow(loaded room.Loaded) room.Loaded {
	cs := a.s.cluster
	if cs == nil || loaded.Failed {
		return loaded
	}
	epoch, err := cs.followEpoch(a.id)
	if err != nil {
		return a.poison(fmt.Errorf("server: follow %q: %w", a.id, err))
	}
	cursor := cs.takeLoaded(a.id)
	fl := &follow{f: jetstream.NewFollower(cursor, 0, cs.node.held), epoch: epoch, kick: make(chan struct{}, 1)}
	fl.cursor.Store(cursor)
	fl.ctx, fl.cancel = context.WithCancel(cs.node.ctx)
	node := cs.node
	fl.sub, err = node.cfg.Backend.Follow(node.cfg.Conn, a.id, epoch, func(d jetstream.Delivery) {
		if node.dropped() {
			return
		}
		_ = a.post(fl.ctx, funcMsg{fn: func(a *actor) { a.onDelivery(fl, d) }})
	}, func() {
		// A delivery without a node's signature: what the stream holds there is read now
		// (one read at a time, however many come).
		_ = a.post(fl.ctx, funcMsg{fn: func(a *actor) { a.startRead(fl, 0) }})
	})
	if err == nil {
		fl.ctl, err = node.cfg.Conn.Subscribe(cs.ctlSubject(a.id), func(*nats.Msg) {
			_ = a.post(fl.ctx, funcMsg{fn: func(a *actor) { a.startRead(fl, 0) }})
		})
	}
	if err != nil {
		fl.cancel()
		if fl.sub != nil {
			_ = fl.sub.Unsubscribe()
		}
		return a.poison(fmt.Errorf("server: follow %q: %w", a.id, err))
	}
	a.follow = fl
	a.startRead(fl, 0)
	loaded.Cluster, loaded.Cursor = true, cursor
	return loaded
}

// stopFollow ends the following: no delivery or read reaches the actor after it returns.
func (a *actor) stopFollow() {
	fl := a.follow
	if fl == nil {
		return
	}
	a.follow = nil
	fl.cancel()
	_ = fl.sub.Unsubscribe()
	_ = fl.ctl.Unsubscribe()
	fl.wg.Wait()
	fl.f.Close() // the held deliveries' bytes back to the node's budget
}

// onDelivery takes a live delivery of the log.
func (a *actor) onDelivery(fl *follow, d jetstream.Delivery) {
	if a.follow != fl {
		return
	}
	steps := fl.f.Deliver(d)
	for _, e := range steps.Apply {
		a.applyLogged(e.Seq, e.Data, e.Foreign)
	}
	a.followed(fl)
	if steps.Repair {
		a.startRead(fl, 0)
	}
}

// startRead reads the log from the cursor on after delay, unless a read is in flight already; a
// read that waits is woken when delay is zero.
func (a *actor) startRead(fl *follow, delay time.Duration) { a.scheduleRead(fl, delay, false) }

// startTailCheck reads the log from the cursor on after the node's tail check period
// (tailCheckEvery), unless the cursor moved meanwhile: deliveries arrive, and a lost one shows as
// a gap in the next.
func (a *actor) startTailCheck(fl *follow) {
	a.scheduleRead(fl, a.s.cluster.node.tailCheck(), true)
}

// scheduleRead is startRead, or startTailCheck when tail is set.
func (a *actor) scheduleRead(fl *follow, delay time.Duration, tail bool) {
	if a.follow != fl {
		return
	}
	if fl.reading {
		if delay == 0 {
			select {
			case fl.kick <- struct{}{}:
			default:
			}
		}
		return
	}
	fl.reading = true
	scheduled, cs := fl.f.Last(), a.s.cluster
	fl.wg.Add(1)
	go func() {
		defer fl.wg.Done()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
				if tail && fl.cursor.Load() != scheduled {
					_ = a.post(fl.ctx, funcMsg{fn: func(a *actor) { a.onTailSkipped(fl) }})
					return
				}
			case <-fl.kick:
				t.Stop()
			case <-fl.ctx.Done():
				t.Stop()
				return
			}
		}
		from := fl.cursor.Load() + 1
		ctx, cancel := context.WithTimeout(fl.ctx, readTimeout)
		r, err := cs.readTail(ctx, a.id, fl.epoch, from)
		cancel()
		_ = a.post(fl.ctx, funcMsg{fn: func(a *actor) { a.onTailRead(fl, r, err) }})
	}()
}

// onTailSkipped schedules the next check of the tail after one that was not needed.
func (a *actor) onTailSkipped(fl *follow) {
	if a.follow != fl {
		return
	}
	fl.reading = false
	a.startTailCheck(fl)
}

// onTailRead takes the result of a read of the log.
func (a *actor) onTailRead(fl *follow, r tailRead, err error) {
	if a.follow != fl {
		return
	}
	fl.reading = false
	node := a.s.cluster.node
	if err != nil {
		node.shortReads.Inc()
		a.log.Debug("reading the log failed: reading again", "err", err)
		a.startRead(fl, shortReadRetry)
		return
	}
	if r.deleted {
		if a.core.Gone() {
			a.log.Info("document deleted on another node: closing it")
		}
		return
	}
	if r.snapshot != nil && r.snapshotSeq > fl.f.Last() {
		// The log up to snapshotSeq was compacted away on another node: its snapshot holds it.
		sv := a.doc.StateVector()
		a.applyLogged(r.snapshotSeq, r.snapshot, false, sv)
		fl.f.Reset(r.snapshotSeq)
	}
	steps := fl.f.Repaired(r.entries)
	if len(steps.Apply) > 0 {
		node.gapsRepaired.Inc()
	}
	for _, e := range steps.Apply {
		a.applyLogged(e.Seq, e.Data, e.Foreign)
	}
	a.followed(fl)
	if fl.f.Held() > 0 {
		node.shortReads.Inc()
		a.startRead(fl, shortReadRetry)
		return
	}
	a.startTailCheck(fl)
}

// applyLogged applies the log's entry at seq (or a snapshot replacing the log up to seq) to the
// replica, and tells the core, which relays what it changed to every member at once: it is
// durable already (room.Applied.Remote). The core does not count the entry in the log
// accounting: each node compacts after its own appends, so that the compactions of a document
// follow its writes and are not made by every node that has it open. With since, the relay is
// what the replica gained over since (a snapshot is not sent as it is).
//
// An entry that a node appended was accepted there, within that node's limits, and is applied
// whatever waits here: the nodes accept updates concurrently, each before it has seen the
// others', so that what waits on a node when it applies an entry in the log's order may not be
// what waited on the node that accepted it. Skipping it for the pending limit would leave this
// replica without an update that was acknowledged, for good. What waits is bounded all the same:
// each node accepts only while what it has seen waiting stays under MaxPendingBytes. A foreign
// entry (backend.Entry.Foreign) is held to MaxPendingBytes, and skipped past it alike on every
// node (skipForeign).
func (a *actor) applyLogged(seq uint64, data []byte, foreign bool, since ...crdt.StateVector) {
	before := a.doc.Version()
	a.doc.SetMaxPendingMemory(0) // accepted by another node: bounded by MaxPendingBytes alone
	err := a.integrateLogged(data, foreign)
	a.accountPending()
	if err != nil {
		if !a.skipForeign(seq, err) {
			a.logSkipped("applying a log entry failed: skipping it", seq, err)
		}
		return
	}
	if a.doc.Version() == before {
		return // this node's own, or already had
	}
	a.version++
	a.s.cluster.node.entriesIn.Inc()
	relay := [][]byte{data}
	if len(since) > 0 {
		// What the replica gained, and what waits in it for dependencies: units that came
		// pending in the snapshot are in no later entry, and the entry that releases them
		// carries only the dependencies (crdt.Doc.PendingUpdate).
		relay = [][]byte{a.doc.EncodeUpdate(since[0])}
		if p := a.doc.PendingUpdate(); p != nil {
			relay = append(relay, p)
		}
	}
	now := time.Now()
	for _, data := range relay {
		u := room.Applied[member, outFrame]{Remote: true, Changed: true}
		if a.core.Members() > 0 {
			u.Frame = outFrame{data: protocol.EncodeFrame(0, &protocol.Update{Data: data}), born: now}
		}
		a.core.Apply(u)
	}
}
