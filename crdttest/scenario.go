package crdttest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tandemhq/tandem/crdt"
)

// Separator is the line between a scenario's commands and its expected output.
const Separator = "----"

// Scenario is a parsed scenario file: its commands, and the expected output
// lines if the file has a Separator line.
type Scenario struct {
	Commands    []Command
	Expected    []string
	HasExpected bool
}

// Command is one command line of a scenario.
type Command struct {
	Line int    // 1-based line number in the file
	Text string // the line as written
	Name string
	args []token
	rest string // the rest of the line for commands that end with a JSON value
}

// ParseScenario parses a scenario file (testdata/crdt/README.md).
func ParseScenario(src string) (*Scenario, error) {
	s := &Scenario{}
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	for i, line := range lines {
		if strings.TrimSpace(line) == Separator {
			s.HasExpected = true
			for _, l := range lines[i+1:] {
				if l != "" {
					s.Expected = append(s.Expected, l)
				}
			}
			break
		}
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		name, _, _ := strings.Cut(t, " ")
		max := -1
		switch name {
		case "set", "embed":
			max = 4 // set R ROOT "key" JSON..., embed R ROOT POS JSON...
		case "attr":
			max = 5 // attr R ROOT POS "key" JSON...
		case "format":
			max = 7 // format R ROOT POS N NAME EXPAND JSON...
		}
		toks, rest, err := tokenize(t, max)
		if err != nil {
			return nil, fmt.Errorf("crdttest: line %d: %w", i+1, err)
		}
		c := Command{Line: i + 1, Text: t, Name: name, args: toks[1:], rest: rest}
		if err := c.check(); err != nil {
			return nil, fmt.Errorf("crdttest: line %d: %w", i+1, err)
		}
		s.Commands = append(s.Commands, c)
	}
	return s, nil
}

// arity gives the number of arguments of each command (min, max).
var arity = map[string][2]int{
	"replica": {2, 3}, "insert": {4, 4}, "delete": {4, 4}, "set": {3, 3}, "unset": {3, 3},
	"update": {1, 1}, "deliver": {1, 3}, "drop": {1, 1}, "sync": {2, 2}, "text": {2, 2}, "map": {2, 2},
	"snapshot": {1, 1}, "sv": {1, 1}, "encode": {2, 2}, "load": {3, 3}, "apply": {2, 2},
	"relpos": {4, 4}, "resolve": {2, 2}, "pending": {1, 1},
	"embed": {3, 3}, "format": {6, 6}, "unformat": {6, 6}, "attr": {4, 4}, "spans": {2, 2},
}

func (c *Command) check() error {
	a, ok := arity[c.Name]
	if !ok {
		return fmt.Errorf("unknown command %q", c.Name)
	}
	if len(c.args) < a[0] || len(c.args) > a[1] {
		return fmt.Errorf("%s takes %d to %d arguments, got %d", c.Name, a[0], a[1], len(c.args))
	}
	if (c.Name == "set" || c.Name == "embed" || c.Name == "format" || c.Name == "attr") && c.rest == "" {
		return fmt.Errorf("%s needs a JSON value", c.Name)
	}
	if c.Name == "deliver" && len(c.args) > 1 {
		switch {
		case c.args[1].raw == "reverse" && len(c.args) == 2:
		case c.args[1].raw == "shuffle" && len(c.args) == 3:
			if _, err := strconv.ParseUint(c.args[2].raw, 10, 32); err != nil {
				return fmt.Errorf("deliver shuffle: seed: %w", err)
			}
		default:
			return errors.New("deliver R [reverse | shuffle SEED]")
		}
	}
	return nil
}

// Runner runs scenario commands against a set of replicas.
type Runner struct {
	docs  map[string]*crdt.Doc
	order []string            // replica names in creation order
	inbox map[string][][]byte // updates queued for each replica
	out   []string
}

// NewRunner returns a runner with no replicas.
func NewRunner() *Runner {
	return &Runner{docs: make(map[string]*crdt.Doc), inbox: make(map[string][][]byte)}
}

// Doc returns the replica named name, or nil.
func (r *Runner) Doc(name string) *crdt.Doc { return r.docs[name] }

// Replicas returns the names of the replicas in creation order.
func (r *Runner) Replicas() []string { return slices.Clone(r.order) }

// Run runs the scenario's commands on a new Runner and returns the output lines.
// An error means the scenario itself is wrong (an unknown replica, a bad
// number), never that the CRDT refused something: refusals are output lines.
func (s *Scenario) Run() ([]string, error) {
	r := NewRunner()
	for i := range s.Commands {
		if err := r.Exec(&s.Commands[i]); err != nil {
			return r.out, err
		}
	}
	return r.out, nil
}

// Output returns the output lines produced so far.
func (r *Runner) Output() []string { return r.out }

// ErrorKind names the kind of a crdt error as scenario output prints it:
// malformed, pending-overflow, range, text, json, name, client, clock, unknown.
func ErrorKind(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{crdt.ErrMalformedUpdate, "malformed"}, {crdt.ErrPendingOverflow, "pending-overflow"},
		{crdt.ErrOutOfRange, "range"}, {crdt.ErrInvalidText, "text"}, {crdt.ErrInvalidJSON, "json"},
		{crdt.ErrInvalidName, "name"}, {crdt.ErrInvalidClientID, "client"}, {crdt.ErrClockOverflow, "clock"},
		{crdt.ErrUnknownPosition, "unknown"}, {crdt.ErrNotEmbed, "embed"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "other"
}

func (r *Runner) emit(prefix, result string) { r.out = append(r.out, prefix+": "+result) }

func (r *Runner) doc(t token) (*crdt.Doc, error) {
	d := r.docs[t.val]
	if d == nil {
		return nil, fmt.Errorf("unknown replica %q", t.val)
	}
	return d, nil
}

func atoi(t token) (int, error) {
	n, err := strconv.Atoi(t.raw)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", t.raw)
	}
	return n, nil
}

// xorshift32 is the scenario format's PRNG for `deliver R shuffle SEED`.
type xorshift32 uint32

func (x *xorshift32) next() uint32 {
	v := uint32(*x)
	v ^= v << 13
	v ^= v >> 17
	v ^= v << 5
	*x = xorshift32(v)
	return v
}

// shuffle permutes a with Fisher–Yates from the end, drawing j = next() % (i+1)
// for i = len-1 down to 1. A zero seed is replaced by 0x9e3779b9.
func shuffle[T any](a []T, seed uint32) {
	if seed == 0 {
		seed = 0x9e3779b9
	}
	x := xorshift32(seed)
	for i := len(a) - 1; i > 0; i-- {
		j := int(x.next() % uint32(i+1))
		a[i], a[j] = a[j], a[i]
	}
}

// Exec runs one command.
func (r *Runner) Exec(c *Command) error {
	if err := r.exec(c); err != nil {
		return fmt.Errorf("crdttest: line %d (%s): %w", c.Line, c.Text, err)
	}
	return nil
}

func (r *Runner) exec(c *Command) error {
	a := c.args
	name := c.Name + " " + a[0].raw
	if c.Name == "replica" {
		client, err := strconv.ParseUint(a[1].raw, 10, 64)
		if err != nil {
			return fmt.Errorf("bad client %q", a[1].raw)
		}
		var cfg crdt.Config
		if len(a) == 3 {
			if cfg.MaxPendingBytes, err = atoi(a[2]); err != nil {
				return err
			}
		}
		if _, ok := r.docs[a[0].val]; ok {
			return fmt.Errorf("replica %q exists", a[0].val)
		}
		d, err := crdt.NewDoc(client, cfg)
		if err != nil {
			r.emit(name, "error "+ErrorKind(err))
			return nil
		}
		r.docs[a[0].val] = d
		r.order = append(r.order, a[0].val)
		return nil
	}
	if c.Name == "load" {
		src, err := r.doc(a[2])
		if err != nil {
			return err
		}
		if _, ok := r.docs[a[0].val]; ok {
			return fmt.Errorf("replica %q exists", a[0].val)
		}
		client, err := strconv.ParseUint(a[1].raw, 10, 64)
		if err != nil {
			return fmt.Errorf("bad client %q", a[1].raw)
		}
		d, err := crdt.NewDoc(client, crdt.Config{})
		if err == nil {
			_, err = d.Apply(src.EncodeSnapshot())
		}
		if err != nil {
			r.emit(name, "error "+ErrorKind(err))
			return nil
		}
		r.docs[a[0].val] = d
		r.order = append(r.order, a[0].val)
		return nil
	}
	d, err := r.doc(a[0])
	if err != nil {
		return err
	}
	fail := func(err error) error {
		if err != nil {
			r.emit(name, "error "+ErrorKind(err))
		}
		return nil
	}
	switch c.Name {
	case "insert":
		pos, err := atoi(a[2])
		if err != nil {
			return err
		}
		return fail(d.Text(a[1].val).Insert(pos, a[3].val))
	case "delete":
		pos, err := atoi(a[2])
		if err != nil {
			return err
		}
		n, err := atoi(a[3])
		if err != nil {
			return err
		}
		return fail(d.Text(a[1].val).Delete(pos, n))
	case "set":
		return fail(d.Map(a[1].val).Set(a[2].val, []byte(c.rest)))
	case "unset":
		return fail(d.Map(a[1].val).Delete(a[2].val))
	case "update":
		u := d.TakeUpdate()
		if u == nil {
			r.emit(name, "none")
			return nil
		}
		for _, other := range r.order {
			if other != a[0].val {
				r.inbox[other] = append(r.inbox[other], u)
			}
		}
		r.emit(name, hex.EncodeToString(u))
	case "deliver":
		q := r.inbox[a[0].val]
		r.inbox[a[0].val] = nil
		switch {
		case len(a) == 2:
			slices.Reverse(q)
		case len(a) == 3:
			seed, _ := strconv.ParseUint(a[2].raw, 10, 32)
			shuffle(q, uint32(seed))
		}
		for _, u := range q {
			if _, err := d.Apply(u); err != nil {
				r.emit(name, "error "+ErrorKind(err))
			}
		}
	case "drop":
		r.inbox[a[0].val] = nil
	case "sync":
		dst, err := r.doc(a[1])
		if err != nil {
			return err
		}
		_, err = dst.Apply(d.EncodeUpdate(dst.StateVector()))
		if err != nil {
			r.emit(name+" "+a[1].raw, "error "+ErrorKind(err))
		}
	case "text":
		r.emit(name+" "+a[1].raw, Quote(d.Text(a[1].val).String()))
	case "map":
		m := d.Map(a[1].val)
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range m.Keys() {
			if i > 0 {
				b.WriteByte(',')
			}
			v, _ := m.Get(k)
			b.WriteString(Quote(k))
			b.WriteByte(':')
			b.Write(v)
		}
		b.WriteByte('}')
		r.emit(name+" "+a[1].raw, b.String())
	case "snapshot":
		r.emit(name, hex.EncodeToString(d.EncodeSnapshot()))
	case "sv":
		r.emit(name, hex.EncodeToString(crdt.EncodeStateVector(d.StateVector())))
	case "encode":
		dst, err := r.doc(a[1])
		if err != nil {
			return err
		}
		r.emit(name+" "+a[1].raw, hex.EncodeToString(d.EncodeUpdate(dst.StateVector())))
	case "apply":
		b, err := hex.DecodeString(a[1].raw)
		if err != nil {
			return fmt.Errorf("bad hex: %w", err)
		}
		if _, err := d.Apply(b); err != nil {
			r.emit(name, "error "+ErrorKind(err))
		} else {
			r.emit(name, "ok")
		}
	case "relpos":
		pos, err := atoi(a[2])
		if err != nil {
			return err
		}
		assoc, err := atoi(a[3])
		if err != nil {
			return err
		}
		prefix := name + " " + a[1].raw + " " + a[2].raw + " " + a[3].raw
		rp, err := d.Text(a[1].val).RelPos(pos, assoc)
		if err != nil {
			r.emit(prefix, "error "+ErrorKind(err))
		} else {
			r.emit(prefix, hex.EncodeToString(rp.Encode()))
		}
	case "resolve":
		prefix := name + " " + a[1].raw
		b, err := hex.DecodeString(a[1].raw)
		if err != nil {
			return fmt.Errorf("bad hex: %w", err)
		}
		rp, err := crdt.DecodeRelPos(b)
		var i int
		if err == nil {
			i, err = d.Resolve(rp)
		}
		if err != nil {
			r.emit(prefix, "error "+ErrorKind(err))
		} else {
			r.emit(prefix, strconv.Itoa(i))
		}
	case "pending":
		r.emit(name, strconv.Itoa(d.PendingBytes()))
	default:
		return r.execRich(c, d, name, fail)
	}
	return nil
}

// Rewrite returns src with its expected output replaced by out: the command
// part is kept byte for byte, then the Separator line and the output lines.
func Rewrite(src string, out []string) string {
	lines := strings.SplitAfter(src, "\n")
	var b strings.Builder
	for _, l := range lines {
		if strings.TrimSpace(l) == Separator {
			break
		}
		b.WriteString(l)
	}
	s := strings.TrimRight(b.String(), "\n") + "\n" + Separator + "\n"
	for _, l := range out {
		s += l + "\n"
	}
	return s
}
