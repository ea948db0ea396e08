package crdt

// idIndex holds the text runs of one client ordered by clock, in chunks of at
// most idChunkMax, so that finding the run of an ID costs two binary searches
// and splitting a run inserts into one small chunk. Runs of one client never
// overlap. New runs always come with the client's highest clock (integration
// follows each client's clock order), so appending is the common case.
type idIndex struct {
	chunks [][]*item
}

const idChunkMax = 64

// locate returns the chunk and position of the last run whose clock is <= clock,
// or ok == false if there is none.
func (x *idIndex) locate(clock uint64) (ci, i int, ok bool) {
	// Binary searches by hand: this runs for every origin an update names.
	lo, hi := 0, len(x.chunks)
	for lo < hi {
		if m := int(uint(lo+hi) >> 1); x.chunks[m][0].clock > clock {
			hi = m
		} else {
			lo = m + 1
		}
	}
	ci = lo - 1
	if ci < 0 {
		return 0, 0, false
	}
	ch := x.chunks[ci]
	lo, hi = 0, len(ch)
	for lo < hi {
		if m := int(uint(lo+hi) >> 1); ch[m].clock > clock {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return ci, lo - 1, true
}

// find returns the run holding clock, or nil.
func (x *idIndex) find(clock uint64) *item {
	ci, i, ok := x.locate(clock)
	if !ok {
		return nil
	}
	it := x.chunks[ci][i]
	if clock >= it.end() {
		return nil
	}
	return it
}

// push appends it, whose clock is above every run's.
func (x *idIndex) push(it *item) {
	if n := len(x.chunks); n > 0 && len(x.chunks[n-1]) < idChunkMax {
		x.chunks[n-1] = append(x.chunks[n-1], it)
		return
	}
	ch := make([]*item, 1, idChunkMax)
	ch[0] = it
	x.chunks = append(x.chunks, ch)
}

// insertAfter inserts it right after prev (it holds the clocks that follow prev's).
func (x *idIndex) insertAfter(prev, it *item) {
	ci, i, _ := x.locate(prev.clock)
	ch := x.chunks[ci]
	if len(ch) < idChunkMax {
		ch = append(ch, nil)
		copy(ch[i+2:], ch[i+1:])
		ch[i+1] = it
		x.chunks[ci] = ch
		return
	}
	// Split the full chunk in two halves, then insert.
	half := len(ch) / 2
	right := make([]*item, len(ch)-half, idChunkMax)
	copy(right, ch[half:])
	clear(ch[half:])
	x.chunks[ci] = ch[:half]
	x.chunks = append(x.chunks, nil)
	copy(x.chunks[ci+2:], x.chunks[ci+1:])
	x.chunks[ci+1] = right
	x.insertAfter(prev, it)
}

// remove takes it out of the index.
func (x *idIndex) remove(it *item) {
	ci, i, _ := x.locate(it.clock)
	ch := x.chunks[ci]
	copy(ch[i:], ch[i+1:])
	ch[len(ch)-1] = nil
	ch = ch[:len(ch)-1]
	if len(ch) == 0 {
		x.chunks = append(x.chunks[:ci], x.chunks[ci+1:]...)
		return
	}
	x.chunks[ci] = ch
}

// each calls f for the runs whose clocks reach clock or beyond, in clock
// order, until f returns false.
func (x *idIndex) each(from uint64, f func(*item) bool) {
	ci, i, ok := x.locate(from)
	if !ok {
		ci, i = 0, 0
	} else if x.chunks[ci][i].end() <= from {
		i++
	}
	for ; ci < len(x.chunks); ci, i = ci+1, 0 {
		for _, it := range x.chunks[ci][i:] {
			if !f(it) {
				return
			}
		}
	}
}

// ceil returns the run holding clock, or else the first run after it, or nil.
func (x *idIndex) ceil(clock uint64) *item {
	var found *item
	x.each(clock, func(it *item) bool {
		found = it
		return false
	})
	return found
}
