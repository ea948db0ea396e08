package crdt

import (
	"testing"
	"unicode/utf8"
)

// TestRunBytes edits texts of 1- to 4-byte code points through every path
// that cuts, extends or moves the bytes of a run (typing, a split, deleting
// a run's head and tail next to a deleted run, a remote insertion inside a
// run, an update from a state vector inside a run, a snapshot) and checks
// the text against a model in code points and the runs against their
// content after each step.
func TestRunBytes(t *testing.T) {
	tests := []struct{ name, s string }{
		{"ascii", "abcdefgh"},
		{"two bytes", "éàüößñçø"},
		{"three bytes", "日本語の文字です"},
		{"four bytes", "😀👍🏽😀🎉🙂🚀🌍✨"},
		{"mixed", "aé日😀bü語👍"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestDoc(t, 1)
			b := newTestDoc(t, 2)
			ta, tb := a.Text("t"), b.Text("t")
			var model []rune
			check := func(step string) {
				t.Helper()
				for _, d := range []*Doc{a, b} {
					if err := CheckInvariants(d); err != nil {
						t.Fatalf("%s: replica %d: %v", step, d.ClientID(), err)
					}
				}
				if got, want := ta.String(), string(model); got != want {
					t.Fatalf("%s: text %q; want %q", step, got, want)
				}
			}
			sync := func(step string) {
				t.Helper()
				if _, err := b.Apply(a.EncodeUpdate(b.StateVector())); err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				if _, err := a.Apply(b.EncodeUpdate(a.StateVector())); err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				if got, want := tb.String(), ta.String(); got != want {
					t.Fatalf("%s: replica 2 has %q; want %q", step, got, want)
				}
			}
			insert := func(txt *Text, pos int, s string) {
				t.Helper()
				if err := txt.Insert(pos, s); err != nil {
					t.Fatal(err)
				}
				model = append(model[:pos], append([]rune(s), model[pos:]...)...)
			}
			del := func(pos, n int) {
				t.Helper()
				if err := ta.Delete(pos, n); err != nil {
					t.Fatal(err)
				}
				model = append(model[:pos], model[pos+n:]...)
			}
			rs := []rune(tc.s)
			// Typing one code point at a time extends one run.
			for i, c := range rs[:4] {
				insert(ta, i, string(c))
			}
			check("typing")
			sync("typing")
			svMid := b.StateVector()
			insert(ta, 4, string(rs[4:]))
			check("typing on")
			// The update from a state vector inside the run, to a replica
			// that has the run's head.
			mid := newTestDoc(t, 4)
			for _, u := range [][]byte{b.EncodeUpdate(nil), a.EncodeUpdate(svMid)} {
				if _, err := mid.Apply(u); err != nil {
					t.Fatal(err)
				}
			}
			if got, want := mid.Text("t").String(), string(model); got != want {
				t.Fatalf("update from a state vector inside a run: %q; want %q", got, want)
			}
			// Backspacing twice: the second deletion moves the run's tail
			// into the deleted run after it.
			del(7, 1)
			del(6, 1)
			check("backspace")
			// A split, then deleting forward twice: the second deletion
			// moves the run's head into the deleted run before it.
			insert(ta, 3, string(rs[1:3]))
			check("split")
			del(5, 1)
			del(5, 1)
			check("delete forward")
			// A remote insertion inside a run.
			sync("before remote")
			insert(tb, 2, string(rs[5:7]))
			sync("remote")
			check("remote")
			// A snapshot loads into runs with the same bytes, and edits go on.
			l := newTestDoc(t, 1)
			if _, err := l.Apply(a.EncodeSnapshot()); err != nil {
				t.Fatal(err)
			}
			a, ta = l, l.Text("t")
			check("snapshot")
			insert(ta, 1, string(rs[2:6]))
			del(0, 2)
			check("after snapshot")
			sync("after snapshot")
			if n := utf8.RuneCountInString(ta.String()); n != ta.Len() {
				t.Fatalf("Len() = %d; want %d", ta.Len(), n)
			}
		})
	}
}

// TestByteOff checks the byte offset of every code point of runs of 1- to
// 4-byte code points, which byteOff finds from either end of the run.
func TestByteOff(t *testing.T) {
	for _, s := range []string{"a", "abc", "é", "aé", "日本語", "😀a", "a😀b👍🏽cé日", "\U0010ffff\u0080\u07ff\u0800"} {
		cs := &clientState{content: []byte("xy" + s)}
		it := &item{cs: cs, n: utf8.RuneCountInString(s), off: 2, nb: len(s)}
		for k := 0; k <= it.n; k++ {
			if got, want := it.byteOff(k), len(string([]rune(s)[:k])); got != want {
				t.Errorf("byteOff(%d) in %q = %d; want %d", k, s, got, want)
			}
		}
	}
}
