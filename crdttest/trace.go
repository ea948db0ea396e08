package crdttest

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Trace is an editing trace of the editing-traces collection
// (github.com/josephg/editing-traces): sequential (one user) or concurrent
// (txns with parents).
type Trace struct {
	Name         string
	Kind         string // "" for sequential traces, "concurrent"
	NumAgents    int
	StartContent string
	EndContent   string
	Txns         []Txn
}

// Txn is one transaction of a trace.
type Txn struct {
	Parents     []int   `json:"parents"`
	NumChildren int     `json:"numChildren"`
	Agent       int     `json:"agent"`
	Patches     []Patch `json:"patches"`
}

// Patch deletes Del code points at Pos, then inserts Ins at Pos.
type Patch struct {
	Pos, Del int
	Ins      string
}

// UnmarshalJSON reads a patch written as [pos, delCount, insertText].
func (p *Patch) UnmarshalJSON(b []byte) error {
	var a []json.RawMessage
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if len(a) != 3 {
		return fmt.Errorf("crdttest: patch of %d elements", len(a))
	}
	if err := json.Unmarshal(a[0], &p.Pos); err != nil {
		return err
	}
	if err := json.Unmarshal(a[1], &p.Del); err != nil {
		return err
	}
	return json.Unmarshal(a[2], &p.Ins)
}

// LoadTrace reads a gzipped JSON trace.
func LoadTrace(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("crdttest: %w", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("crdttest: %s: %w", path, err)
	}
	var t Trace
	if err := json.NewDecoder(z).Decode(&t); err != nil {
		return nil, fmt.Errorf("crdttest: %s: %w", path, err)
	}
	t.Name = strings.TrimSuffix(filepath.Base(path), ".json.gz")
	return &t, nil
}

// TracesDir returns the directory of the editing traces: $TANDEM_TRACES, or
// ../shared/traces beside the module root (found by walking up to go.mod).
// ok is false if neither exists.
func TracesDir() (dir string, ok bool) {
	if d := os.Getenv("TANDEM_TRACES"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, true
		}
		return d, false
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			t := filepath.Join(d, "..", "shared", "traces")
			st, err := os.Stat(t)
			return t, err == nil && st.IsDir()
		}
		if filepath.Dir(d) == d {
			return "", false
		}
	}
}

// TraceFiles returns the trace files of a kind ("sequential_traces" or
// "concurrent_traces"), or nil if the traces are absent.
func TraceFiles(kind string) []string {
	dir, ok := TracesDir()
	if !ok {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(dir, kind, "*.json.gz"))
	return files
}

// Typing returns a synthetic sequential trace of about n single-user edits
// with the shape of real typing: bursts of characters at a cursor, backspaces,
// occasional jumps, selections replaced, pastes, some non-ASCII. The same seed
// gives the same trace.
func Typing(seed uint64, n int) *Trace {
	rng := rand.New(rand.NewPCG(seed, 0x54595045))
	t := &Trace{Name: fmt.Sprintf("synthetic-%d", seed)}
	var doc []rune
	cursor := 0
	words := []string{"the ", "and ", "collaborative ", "editing ", "tandem ", "runs ", "é ", "naïve ", "日本 ", "😀 ", "x", "\n"}
	for len(t.Txns) < n {
		var p Patch
		switch r := rng.IntN(100); {
		case r < 70 || len(doc) == 0: // a burst of typing at the cursor
			w := words[rng.IntN(len(words))]
			for _, c := range w {
				t.Txns = append(t.Txns, Txn{Patches: []Patch{{Pos: cursor, Ins: string(c)}}})
				doc = append(doc[:cursor], append([]rune{c}, doc[cursor:]...)...)
				cursor++
			}
			continue
		case r < 85: // backspaces
			k := min(1+rng.IntN(4), cursor)
			for ; k > 0; k-- {
				cursor--
				t.Txns = append(t.Txns, Txn{Patches: []Patch{{Pos: cursor, Del: 1}}})
				doc = append(doc[:cursor], doc[cursor+1:]...)
			}
			continue
		case r < 95: // a jump
			cursor = rng.IntN(len(doc) + 1)
			continue
		case r < 98: // a selection replaced
			pos := rng.IntN(len(doc))
			del := min(1+rng.IntN(10), len(doc)-pos)
			p = Patch{Pos: pos, Del: del, Ins: words[rng.IntN(len(words))]}
		default: // a paste
			p = Patch{Pos: cursor, Ins: strings.Repeat(words[rng.IntN(len(words))], 1+rng.IntN(8))}
		}
		ins := []rune(p.Ins)
		doc = append(doc[:p.Pos], append(ins, doc[p.Pos+p.Del:]...)...)
		cursor = p.Pos + len(ins)
		t.Txns = append(t.Txns, Txn{Patches: []Patch{p}})
	}
	t.EndContent = string(doc)
	return t
}

// Patches returns the number of patches and of inserted code points of a trace.
func (t *Trace) Patches() (patches, inserted int) {
	for _, x := range t.Txns {
		for _, p := range x.Patches {
			patches++
			inserted += utf8.RuneCountInString(p.Ins)
		}
	}
	return patches, inserted
}
