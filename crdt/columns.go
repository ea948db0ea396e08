package crdt

// The runs of a text in a version 2 snapshot (docs/crdt.md section 2.4.1):
// one column of run shapes and clock deltas, run-length encoded, so that a
// stretch of alike runs (deleted single characters typed and erased one
// after another) costs one entry; clients as (index, count) pairs; origins by
// kind, most of them implied by the neighbouring runs, the rest as clock
// deltas from the run's own clock.

// Origin kinds of a run in a version 2 snapshot, the first that applies.
const (
	originNone = 0 // START (left) or END (right)
	originNear = 1 // left: the last item of the previous run; right: the first item of the next run
	originSame = 2 // the same origin as the previous run's
	originID   = 3 // written out in the lefts or rights column
)

const (
	shapeDeleted = 1
	longLen      = 1<<40 - 1 // the length field of a run whose length is written in the long column
	maxRepeat    = 128       // the most runs one entry of the runs column stands for
	clockMask    = 1<<53 - 1
	// maxRunsPerByte bounds the runs a text may declare per byte that remains
	// (an entry of two bytes stands for at most maxRepeat runs), so that what a
	// decoder allocates stays proportional to its input.
	maxRunsPerByte = maxRepeat / 2
)

// clockDelta returns to - from modulo 2^53, as a signed value in [-2^52, 2^52).
func clockDelta(from, to uint64) int64 {
	d := (to - from) & clockMask
	if d >= 1<<52 {
		return int64(d) - 1<<53
	}
	return int64(d)
}

// addClock returns from + d modulo 2^53.
func addClock(from uint64, d int64) uint64 { return (from + uint64(d)) & clockMask }

func leftKind(runs []snapRun, i int) byte {
	l := runs[i].left
	switch {
	case l.Client == 0:
		return originNone
	case i > 0 && l == runs[i-1].last():
		return originNear
	case i > 0 && l == runs[i-1].left:
		return originSame
	}
	return originID
}

func rightKind(runs []snapRun, i int) byte {
	r := runs[i].right
	switch {
	case r.Client == 0:
		return originNone
	case i+1 < len(runs) && r == (ID{runs[i+1].client, runs[i+1].clock}):
		return originNear
	case i > 0 && r == runs[i-1].right:
		return originSame
	}
	return originID
}

// runShape returns the shape of run i: its length field, origin kinds and
// deleted flag.
func runShape(runs []snapRun, i int) uint64 {
	s := uint64(rightKind(runs, i))<<3 | uint64(leftKind(runs, i))<<1
	if runs[i].deleted {
		s |= shapeDeleted
	}
	return min(runs[i].n-1, longLen)<<5 | s
}

// appendSnapRuns2 writes the columns of a text in a version 2 snapshot (after
// its ri, before its content). ci maps a client to its index; withCI says
// whether explicit origins carry a client index (the clients table has more
// than one entry).
func appendSnapRuns2(b []byte, runs []snapRun, ci func(uint64) uint64, withCI bool) []byte {
	b = appendUv(b, uint64(len(runs)))
	var expected uint64
	for i := 0; i < len(runs); {
		shape, delta := runShape(runs, i), clockDelta(expected, runs[i].clock)
		expected = runs[i].clock + runs[i].n
		j := i + 1
		for j < len(runs) && j-i < maxRepeat && runShape(runs, j) == shape && clockDelta(expected, runs[j].clock) == delta {
			expected = runs[j].clock + runs[j].n
			j++
		}
		if j-i == 1 {
			b = appendSv(appendUv(b, shape<<1), delta)
		} else {
			b = appendUv(appendSv(appendUv(b, shape<<1|1), delta), uint64(j-i-2))
		}
		i = j
	}
	for i := range runs {
		if runs[i].n-1 >= longLen {
			b = appendUv(b, runs[i].n)
		}
	}
	for i := 0; i < len(runs); {
		j := i + 1
		for j < len(runs) && runs[j].client == runs[i].client {
			j++
		}
		b = appendUv(b, ci(runs[i].client))
		b = appendUv(b, uint64(j-i))
		i = j
	}
	appendID := func(b []byte, o ID, run *snapRun) []byte {
		if withCI {
			b = appendUv(b, ci(o.Client))
		}
		return appendSv(b, clockDelta(run.clock, o.Clock))
	}
	for i := range runs {
		if leftKind(runs, i) == originID {
			b = appendID(b, runs[i].left, &runs[i])
		}
	}
	for i := range runs {
		if rightKind(runs, i) == originID {
			b = appendID(b, runs[i].right, &runs[i])
		}
	}
	return b
}

// decodeSnapRuns2 reads the columns and the content of one text in a version
// 2 snapshot (after its ri) and checks that they are canonical.
func decodeSnapRuns2(t *tables) []snapRun {
	r := t.r
	n := r.uv()
	switch {
	case r.err != nil:
		return nil
	case n == 0:
		r.fail("text without runs")
		return nil
	case n > uint64(r.remaining())*maxRunsPerByte:
		r.fail("count %d of runs exceeds the remaining bytes", n)
		return nil
	}
	runs := make([]snapRun, n)
	shapes := make([]uint64, n)
	deltas := make([]int64, n)
	var prevShape uint64
	var prevDelta int64
	prevCount := 0
	for i := 0; i < len(runs) && r.err == nil; {
		v, delta := r.uv(), r.sv()
		count := 1
		if v&1 != 0 {
			count = int(min(r.uv(), maxRepeat)) + 2
		}
		shape := v >> 1
		switch {
		case r.err != nil:
			return nil
		case count > maxRepeat || count > len(runs)-i:
			r.fail("run entry of %d runs", count)
			return nil
		case shape>>5 > longLen:
			r.fail("run length field %d", shape>>5)
			return nil
		case i > 0 && shape == prevShape && delta == prevDelta && prevCount < maxRepeat:
			r.fail("run entries not merged")
			return nil
		}
		for k := i; k < i+count; k++ {
			shapes[k], deltas[k] = shape, delta
		}
		prevShape, prevDelta, prevCount = shape, delta, count
		i += count
	}
	var expected uint64
	nVisible := uint64(0)
	for i := range runs {
		run := &runs[i]
		run.n = shapes[i]>>5 + 1
		if run.n-1 == longLen {
			run.n = r.uv()
			if r.err == nil && run.n <= longLen {
				r.fail("long run length %d", run.n)
			}
		}
		if r.err != nil {
			return nil
		}
		run.clock = addClock(expected, deltas[i])
		if run.clock+run.n > maxVarint {
			r.fail("run clock out of range")
			return nil
		}
		expected = run.clock + run.n
		run.deleted = shapes[i]&shapeDeleted != 0
		if !run.deleted {
			nVisible += run.n
		}
	}
	t.readRunClients(runs)
	withCI := len(t.clients) > 1
	readID := func(run *snapRun) ID {
		c := run.client
		if withCI {
			c = t.client()
		}
		return ID{c, addClock(run.clock, r.sv())}
	}
	for i := range runs {
		run := &runs[i]
		switch (shapes[i] >> 1) & 3 {
		case originNear:
			if i == 0 {
				r.fail("left origin of the first run names the previous run")
				return nil
			}
			run.left = runs[i-1].last()
			run.implied |= runLeftPrev
		case originSame:
			if i == 0 {
				r.fail("left origin of the first run names the previous run")
				return nil
			}
			run.left = runs[i-1].left
		case originID:
			run.left = readID(run)
		}
	}
	for i := range runs {
		run := &runs[i]
		switch (shapes[i] >> 3) & 3 {
		case originNear:
			if i+1 == len(runs) {
				r.fail("right origin of the last run names the next run")
				return nil
			}
			run.right = ID{runs[i+1].client, runs[i+1].clock}
			run.implied |= runRightNext
		case originSame:
			if i == 0 {
				r.fail("right origin of the first run names the previous run")
				return nil
			}
			run.right = runs[i-1].right
		case originID:
			run.right = readID(run)
		}
	}
	if r.err != nil {
		return nil
	}
	for i := range runs {
		run := &runs[i]
		switch {
		case (shapes[i]>>1)&3 != uint64(leftKind(runs, i)) || (shapes[i]>>3)&3 != uint64(rightKind(runs, i)):
			r.fail("origins of run %d not written in their first kind", i)
		case (run.left.Client == run.client && run.left.Clock >= run.clock) || (run.right.Client == run.client && run.right.Clock >= run.clock):
			r.fail("origin of run %d names itself or a later clock", i)
		case i > 0 && mergeable(&runs[i-1], run):
			r.fail("runs %d and %d are not merged", i-1, i)
		}
		if r.err != nil {
			return nil
		}
	}
	off := t.readContent2(nVisible)
	if r.err != nil {
		return nil
	}
	setTextOffsets(runs, t.lastText, off)
	return runs
}
