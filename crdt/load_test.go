package crdt

import "testing"

// TestLoadChangeText checks that the change list of a snapshot load, which
// shares the loaded text, still holds that text after every client whose runs
// share it has typed on (and so appended to its content buffer).
func TestLoadChangeText(t *testing.T) {
	tests := []struct{ name, a, b string }{
		{"ascii", "hello ", "world"},
		{"multi-byte", "héllo 日本 ", "wörld 😀"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newTestDoc(t, 1), newTestDoc(t, 2)
			if err := a.Text("t").Insert(0, tc.a); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Apply(a.EncodeUpdate(nil)); err != nil {
				t.Fatal(err)
			}
			if err := b.Text("t").Insert(b.Text("t").Len(), tc.b); err != nil {
				t.Fatal(err)
			}
			want := tc.a + tc.b
			for _, client := range []uint64{1, 2} {
				d := newTestDoc(t, client)
				chs, err := d.Apply(b.EncodeSnapshot())
				if err != nil {
					t.Fatal(err)
				}
				if len(chs) != 1 || len(chs[0].Edits) != 1 || chs[0].Edits[0].Insert != want {
					t.Fatalf("load as client %d: changes %+v; want one insertion of %q", client, chs, want)
				}
				// The loading client's own run ends the text: typing extends it.
				txt := d.Text("t")
				for i := range 3 {
					if err := txt.Insert(txt.Len(), "xé"[i%2:]); err != nil {
						t.Fatal(err)
					}
				}
				if err := CheckInvariants(d); err != nil {
					t.Fatal(err)
				}
				if got := chs[0].Edits[0].Insert; got != want {
					t.Fatalf("load as client %d, then typing: the load's insertion is %q; want %q", client, got, want)
				}
			}
		})
	}
}
