package crdttest

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
)

// RandomOptions shapes RandomScenario. Zero values take the defaults.
type RandomOptions struct {
	Replicas int // replicas at the start; default 3 (at most 5 more appear by load)
	Steps    int // random commands before the final sync; default 120
	// Rich adds embeds, marks, unmarks and attributes (docs/crdt.md section 4)
	// to the commands, and the spans of every root to the final output.
	Rich bool
}

// pieces are the strings random inserts draw from: ASCII, Latin, CJK, astral
// (emoji, U+10FFFF), combining marks, control characters.
var pieces = []string{
	"a", "b", "c", "x", "y", "z", " ", "hello", "world", "\n", "é", "ß", "中文", "日本",
	"😀", "👍🏽", "\U0010ffff", "e\u0301", "\t", "\"q\"", "\\", "\u2028", "\u0000", "ab😀cd",
}

var values = []string{
	`1`, `-2.5e3`, `true`, `false`, `null`, `"text"`, `"é😀"`, `[1,2,3]`, `{"a":{"b":[]}}`,
	`"\u00e9\ud83d\ude00"`, ` 7 `, `{}`, `[]`, `""`,
}

var keys = []string{"k", "title", "é", "😀", "", "a b"}

var roots = []string{"body", "title", "é"}

// RandomScenario returns a seeded random concurrent scenario in the scenario
// format, with its expected output as this implementation produces it:
// several replicas with client IDs of every varint length, inserts (non-ASCII
// and astral included), deletes, map sets and deletes, updates delivered in
// order, reversed, shuffled or dropped, syncs, snapshots and loads, relative
// positions, corrupted updates, and a final sync after which every replica
// prints the same state. The same seed gives the same text.
func RandomScenario(seed uint64, opts RandomOptions) string {
	if opts.Replicas <= 0 {
		opts.Replicas = 3
	}
	if opts.Steps <= 0 {
		opts.Steps = 120
	}
	g := &gen{rng: rand.New(rand.NewPCG(seed, 0x7a4d)), run: NewRunner(), rich: opts.Rich}
	if opts.Rich {
		g.line("# random rich-text scenario, seed %d: go run ./crdttest/cmd/scenarios -rich -seeds %d-%d", seed, seed, seed)
	} else {
		g.line("# random scenario, seed %d: go run ./crdttest/cmd/scenarios -seeds %d-%d", seed, seed, seed)
	}
	for i := 0; i < opts.Replicas; i++ {
		g.newReplica("")
	}
	// Damaged bytes go to a replica of their own, which syncs with no one: an
	// accepted forgery would make it diverge (the first unit integrated wins).
	g.line("replica bad %d", g.client())
	for i := 0; i < opts.Steps; i++ {
		g.step()
	}
	// Everyone takes their update, then full syncs: all replicas converge.
	for _, r := range g.names {
		g.line("update %s", r)
	}
	for _, r := range g.names {
		g.line("deliver %s shuffle %d", r, g.rng.Uint32())
	}
	for i := range g.names {
		for j := range g.names {
			if i != j {
				g.line("sync %s %s", g.names[i], g.names[j])
			}
		}
	}
	for _, r := range g.names {
		for _, root := range roots {
			g.line("text %s %s", r, Quote(root))
		}
		g.line("map %s m", r)
		g.line("sv %s", r)
		g.line("pending %s", r)
		g.line("snapshot %s", r)
		if g.rich {
			for _, root := range roots {
				g.line("spans %s %s", r, Quote(root))
			}
		}
	}
	return Rewrite(g.src.String(), g.run.Output())
}

type gen struct {
	rng    *rand.Rand
	run    *Runner
	src    strings.Builder
	names  []string
	relpos []string // encoded relative positions seen, in hex
	rich   bool
}

// line appends a command and runs it.
func (g *gen) line(format string, args ...any) {
	l := fmt.Sprintf(format, args...)
	g.src.WriteString(l + "\n")
	if strings.HasPrefix(l, "#") {
		return
	}
	s, err := ParseScenario(l)
	if err != nil {
		panic(fmt.Sprintf("crdttest: generated line %q: %v", l, err))
	}
	before := len(g.run.Output())
	if err := g.run.Exec(&s.Commands[0]); err != nil {
		panic(fmt.Sprintf("crdttest: generated line %q: %v", l, err))
	}
	if out := g.run.Output(); strings.HasPrefix(l, "relpos ") && len(out) > before {
		if _, h, ok := strings.Cut(out[len(out)-1], ": "); ok && !strings.HasPrefix(h, "error") {
			g.relpos = append(g.relpos, h)
		}
	}
}

// client draws a client ID whose varint takes 1 to 8 bytes.
func (g *gen) client() uint64 {
	for {
		bits := 1 + g.rng.IntN(53)
		c := g.rng.Uint64N(1<<bits) | 1
		if c < 1<<53 && !g.used(c) {
			return c
		}
	}
}

func (g *gen) used(c uint64) bool {
	for _, n := range g.run.Replicas() {
		if g.run.Doc(n).ClientID() == c {
			return true
		}
	}
	return false
}

func (g *gen) newReplica(from string) {
	name := fmt.Sprintf("r%d", len(g.names))
	if from == "" {
		g.line("replica %s %d", name, g.client())
	} else {
		g.line("load %s %d %s", name, g.client(), from)
	}
	g.names = append(g.names, name)
}

func (g *gen) pick() string { return g.names[g.rng.IntN(len(g.names))] }

func (g *gen) text() string {
	var b strings.Builder
	for n := 1 + g.rng.IntN(3); n > 0; n-- {
		b.WriteString(pieces[g.rng.IntN(len(pieces))])
	}
	return b.String()
}

func (g *gen) step() {
	r := g.pick()
	d := g.run.Doc(r)
	root := roots[g.rng.IntN(len(roots))]
	n := d.Text(root).Len()
	if g.rich && g.rng.IntN(4) == 0 {
		g.richStep(r, root, n)
		return
	}
	switch p := g.rng.IntN(100); {
	case p < 30:
		g.line("insert %s %s %d %s", r, Quote(root), g.rng.IntN(n+1), Quote(g.text()))
	case p < 42:
		if n > 0 {
			pos := g.rng.IntN(n)
			g.line("delete %s %s %d %d", r, Quote(root), pos, 1+g.rng.IntN(min(n-pos, 4)))
		}
	case p < 48:
		g.line("set %s m %s %s", r, Quote(keys[g.rng.IntN(len(keys))]), values[g.rng.IntN(len(values))])
	case p < 50:
		g.line("unset %s m %s", r, Quote(keys[g.rng.IntN(len(keys))]))
	case p < 65:
		g.line("update %s", r)
	case p < 75:
		switch g.rng.IntN(4) {
		case 0:
			g.line("deliver %s", r)
		case 1:
			g.line("deliver %s reverse", r)
		default:
			g.line("deliver %s shuffle %d", r, g.rng.Uint32())
		}
	case p < 77:
		g.line("drop %s", r)
	case p < 82:
		g.line("sync %s %s", g.pick(), r)
	case p < 84:
		g.line("encode %s %s", g.pick(), r)
	case p < 86:
		g.line("snapshot %s", r)
	case p < 88:
		if len(g.names) < 8 {
			g.newReplica(r)
		}
	case p < 91:
		g.line("relpos %s %s %d %d", r, Quote(root), g.rng.IntN(n+1), g.rng.IntN(3)-1)
	case p < 94:
		if len(g.relpos) > 0 {
			g.line("resolve %s %s", r, g.relpos[g.rng.IntN(len(g.relpos))])
		}
	case p < 96:
		g.line("pending %s", r)
	case p < 98:
		g.line("text %s %s", r, Quote(root))
	default:
		g.corrupt(r)
	}
}

// corrupt gives the replica "bad" a damaged copy of r's full update: truncated
// (always refused: the encoding is self-delimiting), or with one byte changed.
// Both twins must agree on accepting or refusing it.
func (g *gen) corrupt(r string) {
	b := g.run.Doc(r).EncodeUpdate(nil)
	if g.rng.IntN(2) == 0 && len(b) > 1 {
		b = b[:1+g.rng.IntN(len(b)-1)]
	} else {
		b[g.rng.IntN(len(b))] ^= byte(1 + g.rng.IntN(255))
	}
	g.line("apply bad %s", hex.EncodeToString(b))
}

// richStep writes a random rich-text command on replica r's root, whose
// visible length is n.
func (g *gen) richStep(r, root string, n int) {
	switch p := g.rng.IntN(100); {
	case p < 30 || n == 0:
		g.line("embed %s %s %d %s", r, Quote(root), g.rng.IntN(n+1), richEmbeds[g.rng.IntN(len(richEmbeds))])
	case p < 85:
		m := richMarks[g.rng.IntN(len(richMarks))]
		pos := g.rng.IntN(n)
		k := 1 + g.rng.IntN(min(n-pos, 10))
		if p < 70 {
			g.line("format %s %s %d %d %s %s %s", r, Quote(root), pos, k, Quote(m.name), m.expand, m.values[g.rng.IntN(len(m.values))])
		} else {
			g.line("unformat %s %s %d %d %s %s", r, Quote(root), pos, k, Quote(m.name), m.expand)
		}
	case p < 95:
		a := richAttrs[g.rng.IntN(len(richAttrs))]
		g.line("attr %s %s %d %s %s", r, Quote(root), g.rng.IntN(n), Quote(a.key), a.value)
	default:
		g.line("spans %s %s", r, Quote(root))
	}
}
