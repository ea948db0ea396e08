package room

import "time"

// Load records what the document's load found, and starts the idle countdown. A failed load is
// tried again after a backoff (TimerLoad, then LoadAgain) as long as the loads and the waits stay
// within LoadConfig.For; the document is Loading meanwhile. After the last failure, the document
// refuses everything with LoadFailed and ends after LoadConfig.Grace.
func (c *Core[M, F, W]) Load(l Loaded) {
	c.loadFailed = l.Failed
	c.reloading = false
	if l.Failed {
		if c.loadNext == 0 {
			c.loadNext = c.cfg.Load.Backoff
		}
		c.loadSpent += l.Took
		if wait := c.loadNext; wait > 0 && c.loadSpent+wait <= c.cfg.Load.For {
			c.reloading = true
			c.loadSpent += wait
			c.loadNext = min(2*wait, max(c.cfg.Load.MaxBackoff, wait))
			c.arm(TimerLoad, wait)
			return
		}
	} else {
		c.exists = l.Exists
		c.holdOthers = l.HoldFromOthers
		c.saver.Loaded(l.Entries, l.Bytes, l.LastSeq, l.SnapBytes)
		c.cluster, c.cursor = l.Cluster, l.Cursor
	}
	c.armIdle()
}

// Loading reports whether a failed load is to run again (LoadAgain): the caller takes no new
// join or request until it has fed Load, so that they wait for the document (they queue as they
// do during the first load) rather than be refused.
func (c *Core[M, F, W]) Loading() bool { return c.reloading }

// AdmitJoin decides whether the document takes a new member: Open, or why not. A join brings an
// unloading document back to serving.
func (c *Core[M, F, W]) AdmitJoin() Refusal {
	if r := c.admit(); r != Open {
		return r
	}
	if len(c.members) >= c.cfg.MaxMembers {
		return Full
	}
	return Open
}

// Request decides whether the document takes an HTTP request: Open, or why not. A request
// brings an unloading document back to serving, and restarts the idle countdown, so that a
// document read or written over HTTP stays loaded for the grace period.
func (c *Core[M, F, W]) Request() Refusal {
	if r := c.admit(); r != Open {
		return r
	}
	c.restartIdle()
	return Open
}

// RequestRead is Request for an HTTP read, which is refused with NotFound when the document is
// neither in storage nor written nor joined by anyone.
func (c *Core[M, F, W]) RequestRead() Refusal {
	if r := c.Request(); r != Open {
		return r
	}
	if !c.exists && len(c.members) == 0 {
		return NotFound
	}
	return Open
}

func (c *Core[M, F, W]) admit() Refusal {
	mode, r := Admit(c.mode, c.loadFailed)
	c.mode = mode
	return r
}

// JoinWaits records a join that waits for a write of the caller's (its client ID's binding)
// before it is admitted: the document does not go idle meanwhile.
func (c *Core[M, F, W]) JoinWaits() {
	c.joins++
	c.disarm(TimerIdle)
}

// JoinsDone records that n waiting joins are over (admitted with Joined, or refused).
func (c *Core[M, F, W]) JoinsDone(n int) {
	c.joins -= n
	if len(c.members) == 0 && c.joins == 0 {
		c.armIdle()
	}
}

// MetaWrite records a write of the caller's to storage (the server's client ID) in flight: the
// document does not exit before it is reported (MetaWritten).
func (c *Core[M, F, W]) MetaWrite() { c.metaWrites++ }

// MetaWritten records the report of a MetaWrite.
func (c *Core[M, F, W]) MetaWritten(ok bool) {
	c.metaWrites--
	if ok {
		c.exists = true
	}
}

// WaitWrite answers the HTTP write w (AnswerWrite) once durability index i is durable.
func (c *Core[M, F, W]) WaitWrite(i uint64, w W) {
	if c.led.WaitWrite(i, w) {
		c.emit(Effect[M, F, W]{Kind: AnswerWrite, Waiter: w})
	}
}

// Read answers the HTTP read w (AnswerRead) once what it shows, the document as it is now, may
// be shown (relay after durable).
func (c *Core[M, F, W]) Read(w W) {
	if c.led.WaitRead(c.visibleNeed(), w) {
		c.emit(Effect[M, F, W]{Kind: AnswerRead, Waiter: w})
	}
}

// AppendReported records storage's report of append i (an Append effect) of n bytes: durable
// at log sequence seq, or failed; a failed append is healed by a snapshot. Feed Release after
// the reports at hand.
func (c *Core[M, F, W]) AppendReported(i, seq uint64, n int64, ok bool) {
	c.led.Report(i, ok)
	c.saver.AppendReported(seq, n, ok)
	if !ok && !c.cluster && c.saver.Request() {
		c.startSave(false)
	}
}

// SaveEnded records storage's report of the save info (a Save effect, with its Size), and
// returns what it meant (and, for Retry, the backoff) for the caller's logs and metrics. Feed
// Release after the reports at hand.
func (c *Core[M, F, W]) SaveEnded(info SaveInfo, ok bool) (SaveOutcome, time.Duration) {
	if ok {
		c.led.Cover(info.Cover)
	}
	outcome, backoff := c.saver.Done(info, !ok, c.gap())
	switch outcome {
	case Retry:
		c.arm(TimerSave, backoff)
	case AbandonFatal:
		c.fatal = true
	case Saved:
		c.exists = true
		if c.mode == Run && c.saver.WantCompact() {
			c.startSave(true)
		}
	case SavedAgain:
		c.exists = true
		if c.unsaved() {
			c.startSave(false)
		}
	}
	return outcome, backoff
}

// Fatal reports whether the document must close now.
func (c *Core[M, F, W]) Fatal() bool { return c.fatal || c.gone }

func (c *Core[M, F, W]) unsaved() bool { return !c.loadFailed && c.saver.Unsaved(c.gap()) }

// gap reports whether the log lacks an update that a snapshot is to hold. On a cluster node
// (Loaded.Cluster) a snapshot covers no append, as the other nodes follow the log: an append
// that failed for good (storage retries it until the node loses NATS or closes) is healed by
// no save, so it neither asks for one nor holds the document open, and its author, never
// acknowledged, sends it again to the node it reaches next.
func (c *Core[M, F, W]) gap() bool { return c.led.Gap() && !c.cluster }

// startSave lists a save of the document as it is now (Save), unless one is in flight.
func (c *Core[M, F, W]) startSave(compact bool) {
	if c.loadFailed || c.saver.Saving() {
		return
	}
	c.saving = c.saver.Start(c.led.Issued(), 0)
	if c.cluster {
		c.saving.Cover = 0
		c.saving.Upto = min(c.saving.Upto, c.cursor)
	}
	c.emit(Effect[M, F, W]{Kind: Save, Compact: compact})
}

// Fire records that timer t, armed by an Arm effect, fired at now.
func (c *Core[M, F, W]) Fire(t Timer, now time.Time) {
	if !c.armed[t] {
		return // disarmed meanwhile
	}
	c.armed[t] = false
	switch t {
	case TimerIdle:
		if CanUnload(c.mode, len(c.members), c.joins, c.led.Writes(), c.led.Reads()) {
			c.mode = Unload
		}
	case TimerAwareness:
		c.flushAwareness()
	case TimerSave:
		c.saver.RetryDue()
		c.startSave(false)
	case TimerFlush:
		c.emit(Effect[M, F, W]{Kind: Flush})
		c.linger.Flushed(now)
	case TimerLoad:
		c.emit(Effect[M, F, W]{Kind: LoadAgain})
	}
}

// EndBatch records the end, at now, of a batch of n messages from the inbox (0 for storage
// reports), after which the caller holds frames for its members (holding): they are written at
// once (Flush), or, when the document is busy, once a Linger allows (TimerFlush).
func (c *Core[M, F, W]) EndBatch(now time.Time, n int, holding bool) {
	if n > 0 {
		c.linger.Count(now, n)
	}
	if c.armed[TimerFlush] || !holding {
		return
	}
	if c.mode == Run && !c.fatal {
		if wait := c.linger.Wait(now); wait > 0 {
			c.arm(TimerFlush, wait)
			return
		}
	}
	c.emit(Effect[M, F, W]{Kind: Flush})
	c.linger.Flushed(now)
}

// Lingering reports whether held frames wait for TimerFlush.
func (c *Core[M, F, W]) Lingering() bool { return c.armed[TimerFlush] }

// Delete starts the document's deletion, closing its members, and returns Open; or refuses it.
// The deletion from storage starts (Remove) once nothing is in flight.
func (c *Core[M, F, W]) Delete() Refusal {
	switch {
	case c.mode == Stop:
		return GoingAway
	case c.mode == Delete:
		return NotFound
	case !c.exists && !c.loadFailed:
		return NotFound
	}
	c.mode = Delete
	c.disarm(TimerIdle)
	c.closeAll(Deleted)
	return Open
}

// Removed records storage's report of the deletion (a Remove effect).
func (c *Core[M, F, W]) Removed() { c.deleted = true }

// Stop starts the document's shutdown: its members are closed, what is in flight is finished
// and what the log lacks is saved before it exits. A deletion in progress finishes instead.
func (c *Core[M, F, W]) Stop() {
	if c.mode == Delete {
		return
	}
	c.mode = Stop
	c.disarm(TimerIdle)
	c.closeAll(GoingAway)
}

func (c *Core[M, F, W]) closeAll(why Refusal) {
	for _, m := range c.members {
		c.emit(Effect[M, F, W]{Kind: Close, Member: m, Refusal: why})
	}
}

// Settle moves the document's life on (Settle): it starts the save or the deletion the mode
// needs, or, when the life is over, lists End, then closes the members and answers the
// waiting requests with its reason, and disarms the timers. Feed it whenever the caller waits
// for its next event.
func (c *Core[M, F, W]) Settle() {
	if c.exited {
		return
	}
	switch Settle(Life{
		Mode:       c.mode,
		Fatal:      c.Fatal(),
		LoadFailed: c.loadFailed,
		InFlight:   c.led.InFlight(),
		Saving:     c.saver.Saving(),
		Retrying:   c.saver.Retrying(),
		OtherWrite: c.metaWrites > 0,
		Unsaved:    c.unsaved(),
		Abandoned:  c.saver.Abandoned(),
		Deleting:   c.deleting,
		DeletedNow: c.deleted,
	}) {
	case Exit:
		c.exit()
	case StartSave:
		c.startSave(false)
	case StartDelete:
		c.deleting = true
		c.emit(Effect[M, F, W]{Kind: Remove})
	}
}

func (c *Core[M, F, W]) exit() {
	c.exited = true
	why := Unavailable
	switch {
	case c.gone:
		why = Deleted
	case c.fatal:
		why = StorageFailed
	case c.mode == Delete:
		why = Deleted
	case c.mode == Stop:
		why = GoingAway
	}
	c.emit(Effect[M, F, W]{Kind: End, Refusal: why})
	c.closeAll(why)
	writes, reads := c.led.TakeWaiters()
	for _, w := range writes {
		c.emit(Effect[M, F, W]{Kind: Reply, Waiter: w, Refusal: why})
	}
	for _, r := range reads {
		c.emit(Effect[M, F, W]{Kind: Reply, Waiter: r, Refusal: why})
	}
	for t := range NumTimers {
		c.disarm(t)
	}
}

// arm lists Arm for timer t unless it runs.
func (c *Core[M, F, W]) arm(t Timer, after time.Duration) {
	if c.armed[t] {
		return
	}
	c.armed[t] = true
	c.emit(Effect[M, F, W]{Kind: Arm, Timer: t, After: after})
}

// disarm lists Disarm for timer t if it runs.
func (c *Core[M, F, W]) disarm(t Timer) {
	if !c.armed[t] {
		return
	}
	c.armed[t] = false
	c.emit(Effect[M, F, W]{Kind: Disarm, Timer: t})
}

// canIdle reports whether nothing holds the serving document open but the idle grace.
func (c *Core[M, F, W]) canIdle() bool {
	return len(c.members) == 0 && c.led.Writes() == 0 && c.mode == Run && !c.reloading
}

// armIdle starts the idle countdown if nothing holds the document open: the idle grace, or the
// short LoadConfig.Grace for a document that failed to load, which has nothing to keep.
func (c *Core[M, F, W]) armIdle() {
	if c.canIdle() {
		after := c.cfg.IdleAfter
		if c.loadFailed && c.cfg.Load.Grace > 0 {
			after = c.cfg.Load.Grace
		}
		c.arm(TimerIdle, after)
	}
}

// restartIdle starts the idle countdown again from now, or stops it if something holds the
// document open.
func (c *Core[M, F, W]) restartIdle() {
	was := c.armed[TimerIdle]
	c.armed[TimerIdle] = false
	switch {
	case c.canIdle():
		c.arm(TimerIdle, c.cfg.IdleAfter)
	case was:
		c.emit(Effect[M, F, W]{Kind: Disarm, Timer: TimerIdle})
	}
}
