package main

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
)

// The hand-made keystroke must be the update that crdt makes for the same typing, byte for byte.
func TestTandemKeystrokeMatchesCRDT(t *testing.T) {
	for _, id := range []uint64{1, 300, 1 << 40, crdt.MaxClientID} {
		d, err := crdt.NewDoc(id, crdt.Config{})
		if err != nil {
			t.Fatalf("NewDoc(%d): %v", id, err)
		}
		for k := uint64(0); k < 200; k++ {
			txt := d.Text(benchRoot)
			if err := txt.Insert(txt.Len(), "x"); err != nil {
				t.Fatalf("Insert: %v", err)
			}
			want := d.TakeUpdate()
			frame := appendTandemKeystroke([]byte("prefix"), id, k)
			if !bytes.HasPrefix(frame, []byte("prefix")) {
				t.Fatalf("appendTandemKeystroke overwrote its dst")
			}
			f, err := protocol.DecodeFrame(frame[len("prefix"):], protocol.FromClient)
			if err != nil {
				t.Fatalf("id %d clock %d: DecodeFrame(keystroke): %v", id, k, err)
			}
			u, ok := f.Message.(*protocol.Update)
			if !ok || f.Channel != 0 {
				t.Fatalf("id %d clock %d: keystroke frame = %T on channel %d; want an update on 0", id, k, f.Message, f.Channel)
			}
			if !bytes.Equal(u.Data, want) {
				t.Fatalf("id %d clock %d: keystroke update = %x; want %x (crdt)", id, k, u.Data, want)
			}
		}
	}
}

// tandemUpdates returns updates of many shapes, made by crdt: several clients and blocks, deleted
// runs, map assignments, skips (map assignments that lost), delete sets.
func tandemUpdates(t testing.TB) [][]byte {
	t.Helper()
	a, _ := crdt.NewDoc(7, crdt.Config{})
	b, _ := crdt.NewDoc(1<<45, crdt.Config{})
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	var out [][]byte
	must(a.Text("body").Insert(0, "héllo😀"))
	out = append(out, a.TakeUpdate())
	must(b.Map("meta").Set("k", []byte(`"b"`)))
	must(b.Text("body").Insert(0, "ab"))
	out = append(out, b.TakeUpdate())
	must(a.Map("meta").Set("k", []byte(`"a"`)))
	must(a.Map("meta").Set("k", []byte(`"a2"`)))
	out = append(out, a.TakeUpdate())
	_, err := a.Apply(b.EncodeUpdate(nil))
	must(err)
	_, err = b.Apply(a.EncodeUpdate(nil))
	must(err)
	must(a.Text("body").Delete(1, 3))
	out = append(out, a.TakeUpdate())
	must(a.Text("body").Insert(2, "zz"))
	must(a.Text("body").Delete(2, 1))
	out = append(out, a.TakeUpdate())
	out = append(out, a.EncodeUpdate(nil), b.EncodeUpdate(nil), a.EncodeUpdate(b.StateVector()))
	return out
}

func TestTandemRanges(t *testing.T) {
	for i, u := range tandemUpdates(t) {
		info, err := crdt.InspectUpdate(u)
		if err != nil {
			t.Fatalf("update %d: InspectUpdate: %v", i, err)
		}
		var want []clockRange
		for _, r := range info.Ranges {
			want = append(want, clockRange{client: r.Client, start: r.Start, end: r.End})
		}
		got, err := tandemRanges(u, nil)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("update %d (%x): tandemRanges = %v, %v; want %v (InspectUpdate)", i, u, got, err, want)
		}
	}
	bad := []struct{ name, hex string }{
		{"empty", ""},
		{"snapshot format", "02"},
		{"truncated", "010107"},
		{"client index out of range", "0101070101046a756e6b01050001"},
		{"unknown op kind", "010107010104626f647901000103"},
	}
	for _, tt := range bad {
		if got, err := tandemRanges(mustHex(t, tt.hex), nil); err == nil {
			t.Errorf("%s: tandemRanges = %v, nil; want an error", tt.name, got)
		}
	}
}

// FuzzTandemRanges: the bench's tandem decoder never panics on what a server sends, and agrees
// with crdt.InspectUpdate on every update crdt accepts.
func FuzzTandemRanges(f *testing.F) {
	for _, u := range tandemUpdates(f) {
		f.Add(u)
	}
	f.Add(appendTandemKeystroke(nil, 9, 3)[3:])
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := tandemRanges(b, nil)
		info, ierr := crdt.InspectUpdate(b)
		if ierr != nil || len(b) == 0 || b[0] != 0x01 {
			return
		}
		if err != nil {
			t.Fatalf("tandemRanges(%x): %v; InspectUpdate accepts it", b, err)
		}
		var want []clockRange
		for _, r := range info.Ranges {
			want = append(want, clockRange{client: r.Client, start: r.Start, end: r.End})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("tandemRanges(%x) = %v; want %v", b, got, want)
		}
	})
}

func TestAppendYjsChar(t *testing.T) {
	for _, id := range []uint64{7, 1<<32 - 1} {
		for clock := uint64(0); clock < 300; clock += 7 {
			if got, want := appendYjsChar(nil, id, clock), yjsCharsUpdate(id, clock, 1); !bytes.Equal(got, want) {
				t.Errorf("appendYjsChar(%d, %d) = %x; want %x", id, clock, got, want)
			}
		}
	}
}

func TestUTF16Len(t *testing.T) {
	for _, s := range []string{"", "x", "héllo", "😀", "a😀b€", "\xff"} {
		want := uint64(len([]rune(s)))
		for _, r := range s {
			if r >= 0x10000 {
				want++
			}
		}
		if got := utf16Len([]byte(s)); got != want {
			t.Errorf("utf16Len(%q) = %d; want %d", s, got, want)
		}
	}
}

// BenchmarkReceiveDecode compares what the generator does per received update: the lean path
// (frame header, clock ranges) and the one through package client (decode the frame, inspect the
// update with crdt).
func BenchmarkReceiveDecode(b *testing.B) {
	frame := appendTandemKeystroke(nil, 1<<40, 1234)
	b.Run("lean", func(b *testing.B) {
		b.ReportAllocs()
		var ranges []clockRange
		for range b.N {
			d := yDecoder{b: frame[2:]}
			ranges, _ = tandemRanges(d.bytes(), ranges[:0])
		}
	})
	b.Run("client", func(b *testing.B) {
		b.ReportAllocs()
		var ranges []clockRange
		for range b.N {
			f, _ := protocol.DecodeFrame(frame, protocol.FromServer)
			info, _ := crdt.InspectUpdate(f.Message.(*protocol.Update).Data)
			ranges = ranges[:0]
			for _, r := range info.Ranges {
				ranges = append(ranges, clockRange{client: r.Client, start: r.Start, end: r.End})
			}
		}
	})
}

// BenchmarkKeystrokeEncode compares the generator's keystroke: encoded straight into the frame,
// or typed into a replica whose update is taken and framed (package client's Edit).
func BenchmarkKeystrokeEncode(b *testing.B) {
	b.Run("lean", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for i := range b.N {
			buf = appendTandemKeystroke(buf[:0], 1<<40, uint64(i))
		}
	})
	b.Run("replica", func(b *testing.B) {
		b.ReportAllocs()
		d, _ := crdt.NewDoc(1<<40, crdt.Config{})
		for range b.N {
			txt := d.Text(benchRoot)
			_ = txt.Insert(txt.Len(), "x")
			_ = protocol.EncodeFrame(0, &protocol.Update{Data: d.TakeUpdate()})
		}
	})
}
