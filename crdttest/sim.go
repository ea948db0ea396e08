package crdttest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/tandemhq/tandem/crdt"
)

// SimOptions shapes a random convergence run (reliability tests T-CRDT-01 to 06).
type SimOptions struct {
	Replicas int // default 5
	Steps    int // local edits; default 300
	// Delivery, per step: the chance of delivering one queued message (default
	// 0.5), of a disconnect/reconnect that resyncs a pair by state vector, and of
	// flushing every queue.
	DeliverRate, ReconnectRate, FlushRate float64
	Shuffle                               bool    // deliver in any order (else FIFO per sender)
	Duplicate                             bool    // also deliver already delivered messages again (1-3 times, and whole re-sends)
	DropRate                              float64 // the chance that a message is lost (recovered by reconnects and the final sync)
	// Check, if set, is called after every Apply (to check invariants that
	// only the package's own tests can see).
	Check func(*crdt.Doc) error
	// TrackPending makes the run record MaxPending (an exact size after every
	// Apply, which costs time).
	TrackPending bool
	// Script makes the run record itself as a scenario (see Sim.Scenario).
	Script bool
	// Rich adds embeds, marks and attributes to the local edits (richtext.go).
	Rich bool
}

func (o *SimOptions) defaults() {
	if o.Replicas <= 0 {
		o.Replicas = 5
	}
	if o.Steps <= 0 {
		o.Steps = 300
	}
	if o.DeliverRate == 0 {
		o.DeliverRate = 0.5
	}
}

type message struct {
	from int
	b    []byte
}

// Sim is a seeded random run of replicas that edit concurrently and exchange
// updates through lossy, reordering, duplicating queues. Every Apply is checked:
// the changes it reports turn the old text into the new one, and name exactly
// the map keys whose value changed.
type Sim struct {
	Docs    []*crdt.Doc
	opts    SimOptions
	ops     *rand.Rand // local edits: independent of delivery, so that runs that differ only in duplicates edit alike
	net     *rand.Rand // delivery
	dup     *rand.Rand // duplicates
	inbox   [][]message
	seen    [][][]byte // messages delivered to each replica (for duplicates)
	cursors []int
	// Log holds every update taken from a replica, in order, and Marks the
	// snapshots of replica 0 taken along the way with the log length then.
	Log   [][]byte
	Marks []Mark
	// MaxPending is the largest PendingBytes seen.
	MaxPending int
	script     strings.Builder
}

// Mark is a snapshot of a replica taken at a point of the log.
type Mark struct {
	Snapshot []byte
	LogLen   int
}

// Roots are the roots a Sim edits.
var simTexts = []string{"body", "title"}

// NewSim returns a run of opts.Replicas replicas with client IDs drawn from seed.
func NewSim(seed uint64, opts SimOptions) *Sim {
	opts.defaults()
	s := &Sim{
		opts: opts,
		ops:  rand.New(rand.NewPCG(seed, 1)),
		net:  rand.New(rand.NewPCG(seed, 2)),
		dup:  rand.New(rand.NewPCG(seed, 3)),
	}
	ids := map[uint64]bool{}
	for len(s.Docs) < opts.Replicas {
		c := 1 + s.ops.Uint64N(crdt.MaxClientID)
		if s.ops.IntN(3) == 0 {
			c = 1 + s.ops.Uint64N(200) // small IDs make ties between siblings frequent
		}
		if ids[c] {
			continue
		}
		ids[c] = true
		d, err := crdt.NewDoc(c, crdt.Config{})
		if err != nil {
			panic(err)
		}
		s.Docs = append(s.Docs, d)
	}
	for i, d := range s.Docs {
		s.record("replica r%d %d", i, d.ClientID())
	}
	s.inbox = make([][]message, opts.Replicas)
	s.seen = make([][][]byte, opts.Replicas)
	s.cursors = make([]int, opts.Replicas)
	return s
}

// Run makes the local edits and the deliveries, then delivers everything and
// syncs every pair, so that the replicas should have converged.
func (s *Sim) Run() error {
	for i := 0; i < s.opts.Steps; i++ {
		if err := s.edit(s.ops.IntN(len(s.Docs))); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		if err := s.deliverSome(); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
	}
	return s.Settle()
}

// Settle takes every replica's pending local changes, delivers every queue
// and syncs every pair both ways.
func (s *Sim) Settle() error {
	for i := range s.Docs {
		s.broadcast(i)
	}
	for r := range s.Docs {
		for len(s.inbox[r]) > 0 {
			if err := s.deliver(r, s.net.IntN(len(s.inbox[r]))); err != nil {
				return err
			}
		}
	}
	for a := range s.Docs {
		for b := range s.Docs {
			if a != b {
				if err := s.sync(a, b); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// edit makes a random local edit on replica r: a burst of typing, backspaces,
// a jump, a deletion, or a map assignment; sometimes the update is held back
// to go out with the next edits.
func (s *Sim) edit(r int) error {
	d := s.Docs[r]
	rng := s.ops
	root := simTexts[rng.IntN(len(simTexts))]
	t := d.Text(root)
	n := t.Len()
	cur := min(s.cursors[r], n)
	insert := func(pos int, text string) error {
		s.record("insert r%d %s %d %s", r, root, pos, Quote(text))
		return t.Insert(pos, text)
	}
	del := func(pos, n int) error {
		s.record("delete r%d %s %d %d", r, root, pos, n)
		return t.Delete(pos, n)
	}
	var err error
	if s.opts.Rich && rng.IntN(100) < 35 {
		err = s.richEdit(r, root, t)
		if err != nil {
			return fmt.Errorf("replica %d: local edit: %w", r, err)
		}
		if rng.IntN(4) > 0 {
			s.broadcast(r)
		}
		return nil
	}
	switch p := rng.IntN(100); {
	case p < 45:
		w := pieces[rng.IntN(len(pieces))]
		for _, c := range w {
			if err = insert(cur, string(c)); err != nil {
				break
			}
			cur++
		}
	case p < 60:
		k := min(1+rng.IntN(3), cur)
		for ; k > 0 && err == nil; k-- {
			cur--
			err = del(cur, 1)
		}
	case p < 70:
		cur = rng.IntN(n + 1)
	case p < 80:
		if n > 0 {
			pos := rng.IntN(n)
			err = del(pos, 1+rng.IntN(min(n-pos, 8)))
			cur = pos
		}
	case p < 90:
		k, v := keys[rng.IntN(len(keys))], values[rng.IntN(len(values))]
		s.record("set r%d m %s %s", r, Quote(k), v)
		err = d.Map("m").Set(k, []byte(v))
	case p < 93:
		k := keys[rng.IntN(len(keys))]
		s.record("unset r%d m %s", r, Quote(k))
		err = d.Map("m").Delete(k)
	default:
		pos := rng.IntN(n + 1)
		err = insert(pos, strings.Repeat(pieces[rng.IntN(len(pieces))], 1+rng.IntN(5)))
		cur = pos
	}
	if err != nil {
		return fmt.Errorf("replica %d: local edit: %w", r, err)
	}
	s.cursors[r] = cur
	if s.opts.Check != nil {
		if err := s.opts.Check(d); err != nil {
			return fmt.Errorf("replica %d after a local edit: %w", r, err)
		}
	}
	if rng.IntN(4) > 0 {
		s.broadcast(r)
	}
	if r == 0 && rng.IntN(50) == 0 {
		s.Marks = append(s.Marks, Mark{Snapshot: d.EncodeSnapshot(), LogLen: len(s.Log)})
	}
	return nil
}

// broadcast takes r's update and queues it for every other replica.
func (s *Sim) broadcast(r int) {
	u := s.Docs[r].TakeUpdate()
	if u == nil {
		return
	}
	s.Log = append(s.Log, u)
	for o := range s.Docs {
		if o != r {
			s.inbox[o] = append(s.inbox[o], message{r, u})
		}
	}
}

func (s *Sim) deliverSome() error {
	rng := s.net
	if rng.Float64() < s.opts.DeliverRate {
		r := rng.IntN(len(s.Docs))
		if q := s.inbox[r]; len(q) > 0 {
			i := rng.IntN(len(q))
			if !s.opts.Shuffle {
				// FIFO per sender: the first queued message of a random sender.
				from := q[i].from
				i = slices.IndexFunc(q, func(m message) bool { return m.from == from })
			}
			if err := s.deliver(r, i); err != nil {
				return err
			}
		}
	}
	if rng.Float64() < s.opts.ReconnectRate {
		a, b := rng.IntN(len(s.Docs)), rng.IntN(len(s.Docs))
		if a != b {
			if err := s.sync(a, b); err != nil {
				return err
			}
			if err := s.sync(b, a); err != nil {
				return err
			}
		}
	}
	if rng.Float64() < s.opts.FlushRate {
		for r := range s.Docs {
			for len(s.inbox[r]) > 0 {
				i := 0
				if s.opts.Shuffle {
					i = rng.IntN(len(s.inbox[r]))
				}
				if err := s.deliver(r, i); err != nil {
					return err
				}
			}
		}
	}
	if s.opts.Duplicate && s.dup.IntN(4) == 0 {
		r := s.dup.IntN(len(s.Docs))
		if seen := s.seen[r]; len(seen) > 0 {
			if s.dup.IntN(8) == 0 {
				// A re-send of the last messages delivered, at once.
				for _, b := range seen[max(0, len(seen)-10):] {
					if err := s.apply(r, b); err != nil {
						return err
					}
				}
			} else if err := s.apply(r, seen[s.dup.IntN(len(seen))]); err != nil {
				return err
			}
		}
	}
	return nil
}

// deliver applies message i of r's inbox (or drops it).
func (s *Sim) deliver(r, i int) error {
	m := s.inbox[r][i]
	s.inbox[r] = slices.Delete(s.inbox[r], i, i+1)
	if s.opts.DropRate > 0 && s.net.Float64() < s.opts.DropRate {
		return nil
	}
	if err := s.apply(r, m.b); err != nil {
		return fmt.Errorf("replica %d applies an update of replica %d: %w", r, m.from, err)
	}
	s.seen[r] = append(s.seen[r], m.b)
	if s.opts.Duplicate {
		for k := s.dup.IntN(3); k > 0; k-- {
			if err := s.apply(r, m.b); err != nil {
				return err
			}
		}
	}
	return nil
}

// sync makes b apply what a has and b lacks.
func (s *Sim) sync(a, b int) error {
	s.record("sync r%d r%d", a, b)
	u := s.Docs[a].EncodeUpdate(s.Docs[b].StateVector())
	if err := s.check(b, u); err != nil {
		return fmt.Errorf("sync %d to %d: %w", a, b, err)
	}
	return nil
}

// record adds a line to the run's scenario, if it keeps one.
func (s *Sim) record(format string, args ...any) {
	if s.opts.Script {
		fmt.Fprintf(&s.script, format+"\n", args...)
	}
}

// Scenario returns the run so far as a scenario file (testdata/crdt/README.md):
// the replicas, every local edit, every update applied (as apply lines with
// its bytes) and sync, then each replica's final state, with the expected
// output this implementation produces. A failing seed thus becomes a scenario
// file that both twins run. It needs SimOptions.Script.
func (s *Sim) Scenario(title string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n%s", title, s.script.String())
	for i := range s.Docs {
		for _, root := range simTexts {
			fmt.Fprintf(&b, "text r%d %s\n", i, root)
		}
		fmt.Fprintf(&b, "map r%d m\nsv r%d\npending r%d\nsnapshot r%d\n", i, i, i, i)
	}
	src := b.String()
	sc, err := ParseScenario(src)
	if err != nil {
		return src + "# cannot parse: " + err.Error() + "\n"
	}
	out, err := sc.Run()
	if err != nil {
		return src + "# cannot run: " + err.Error() + "\n"
	}
	return Rewrite(src, out)
}

// apply applies b to replica r (an update delivered) and checks it.
func (s *Sim) apply(r int, b []byte) error {
	s.record("apply r%d %x", r, b)
	return s.check(r, b)
}

// check applies b to replica r and checks the changes it reports.
func (s *Sim) check(r int, b []byte) error {
	if err := CheckApply(s.Docs[r], b); err != nil {
		return err
	}
	if s.opts.Check != nil {
		if err := s.opts.Check(s.Docs[r]); err != nil {
			return fmt.Errorf("replica %d: %w", r, err)
		}
	}
	if s.opts.TrackPending {
		s.MaxPending = max(s.MaxPending, s.Docs[r].PendingBytes())
	}
	return nil
}

// CheckApply applies b to d and checks the reported changes: applying each
// text's edits to the old text gives the new text, and the map keys reported
// are exactly those whose value changed.
func CheckApply(d *crdt.Doc, b []byte) error {
	before := state(d)
	changes, err := d.Apply(b)
	if err != nil {
		return err
	}
	after := state(d)
	reported := map[string]bool{}
	for _, c := range changes {
		key := c.Kind.String() + ":" + c.Root
		if reported[key] {
			return fmt.Errorf("root %s reported twice", key)
		}
		reported[key] = true
		switch c.Kind {
		case crdt.KindText:
			got, err := applyEdits(before.texts[c.Root], c.Edits)
			if err != nil {
				return fmt.Errorf("text %q: %w", c.Root, err)
			}
			if got != after.texts[c.Root] {
				return fmt.Errorf("text %q: the reported edits %+v give %q, the text is %q", c.Root, c.Edits, got, after.texts[c.Root])
			}
			if err := checkRichChange(before.rich[c.Root], after.rich[c.Root], c); err != nil {
				return fmt.Errorf("text %q: %w", c.Root, err)
			}
		case crdt.KindMap:
			var changed []string
			for k := range union(before.maps[c.Root], after.maps[c.Root]) {
				if !bytes.Equal(before.maps[c.Root][k], after.maps[c.Root][k]) {
					changed = append(changed, k)
				}
			}
			slices.Sort(changed)
			if !slices.Equal(changed, c.Keys) {
				return fmt.Errorf("map %q: reported keys %q, changed %q", c.Root, c.Keys, changed)
			}
		}
	}
	for name, t := range after.texts {
		if !reported["text:"+name] && before.texts[name] != t {
			return fmt.Errorf("text %q changed without a report", name)
		}
		if !reported["text:"+name] && !slices.EqualFunc(before.rich[name], after.rich[name], cell.equal) {
			return fmt.Errorf("text %q: formatting changed without a report", name)
		}
	}
	for name, m := range after.maps {
		if !reported["map:"+name] {
			for k := range union(before.maps[name], m) {
				if !bytes.Equal(before.maps[name][k], m[k]) {
					return fmt.Errorf("map %q key %q changed without a report", name, k)
				}
			}
		}
	}
	return nil
}

type docState struct {
	texts map[string]string
	maps  map[string]map[string][]byte
	rich  map[string][]cell // texts as cells, when the document has rich content
}

func state(d *crdt.Doc) docState {
	s := docState{texts: map[string]string{}, maps: map[string]map[string][]byte{}, rich: map[string][]cell{}}
	for _, r := range d.Roots() {
		switch r.Kind {
		case crdt.KindText:
			s.texts[r.Name] = d.Text(r.Name).String()
			s.rich[r.Name] = cells(d.Text(r.Name).Spans())
		case crdt.KindMap:
			m := d.Map(r.Name)
			vals := map[string][]byte{}
			for _, k := range m.Keys() {
				vals[k], _ = m.Get(k)
			}
			s.maps[r.Name] = vals
		}
	}
	return s
}

// union returns the keys of a and b.
func union[V any](a, b map[string]V) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

// applyEdits applies text edits (code point positions) to s.
func applyEdits(s string, edits []crdt.TextEdit) (string, error) {
	rs := []rune(s)
	for _, e := range edits {
		if e.Pos < 0 || e.Delete < 0 || e.Pos+e.Delete > len(rs) {
			return "", fmt.Errorf("edit %+v out of range of %d", e, len(rs))
		}
		if e.Delete == 0 && e.Insert == "" {
			return "", fmt.Errorf("empty edit %+v", e)
		}
		ins := []rune(e.Insert)
		rs = append(rs[:e.Pos], append(ins, rs[e.Pos+e.Delete:]...)...)
	}
	return string(rs), nil
}

// Compare checks that docs have converged: the same roots, texts and map
// values, the same state vectors, byte-identical snapshots and nothing
// pending. It returns the first difference.
func Compare(docs ...*crdt.Doc) error {
	if len(docs) == 0 {
		return nil
	}
	ref := docs[0]
	refSnap := ref.EncodeSnapshot()
	refState := state(ref)
	refSV := crdt.EncodeStateVector(ref.StateVector())
	var errs []error
	for i, d := range docs {
		if p := d.PendingBytes(); p != 0 {
			errs = append(errs, fmt.Errorf("replica %d: %d bytes pending", i, p))
		}
		if i == 0 {
			continue
		}
		st := state(d)
		for name, t := range union2(refState.texts, st.texts) {
			if t[0] != t[1] {
				errs = append(errs, fmt.Errorf("replica %d: text %q = %q; replica 0 has %q", i, name, t[1], t[0]))
			}
			if a, b := SpansJSON(ref.Text(name).Spans()), SpansJSON(d.Text(name).Spans()); a != b {
				errs = append(errs, fmt.Errorf("replica %d: spans of %q = %s; replica 0 has %s", i, name, b, a))
			}
		}
		for name := range union(refState.maps, st.maps) {
			a, b := refState.maps[name], st.maps[name]
			for k := range union(a, b) {
				if !bytes.Equal(a[k], b[k]) {
					errs = append(errs, fmt.Errorf("replica %d: map %q key %q = %s; replica 0 has %s", i, name, k, b[k], a[k]))
				}
			}
		}
		if sv := crdt.EncodeStateVector(d.StateVector()); !bytes.Equal(sv, refSV) {
			errs = append(errs, fmt.Errorf("replica %d: state vector %x; replica 0 has %x", i, sv, refSV))
		}
		if snap := d.EncodeSnapshot(); !bytes.Equal(snap, refSnap) {
			errs = append(errs, fmt.Errorf("replica %d: snapshot differs from replica 0's", i))
		}
	}
	return errors.Join(errs...)
}

func union2(a, b map[string]string) map[string][2]string {
	u := map[string][2]string{}
	for k, v := range a {
		u[k] = [2]string{v, b[k]}
	}
	for k, v := range b {
		u[k] = [2]string{a[k], v}
	}
	return u
}
