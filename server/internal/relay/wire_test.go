package relay

import (
	"errors"
	"reflect"
	"testing"
)

func TestWireRoundTrip(t *testing.T) {
	long := make([]byte, 5000)
	tests := []message{
		{kind: kindBeat, from: nodeA},
		{kind: kindBye, from: Node{ID: "node-with-a-longer.name", Instance: 1<<64 - 1}},
		{kind: kindQuery, from: nodeB},
		{kind: kindChanges, from: nodeA, entries: []Entry{st(1, 1, "x"), st(1<<53-1, 1<<40, ""), {ClientID: 9, Clock: 2, State: long}}},
		{kind: kindFull, from: nodeB, entries: []Entry{}},
		{kind: kindFull, from: nodeB, entries: []Entry{st(3, 4, "{\"cursor\":1}")}},
	}
	for _, m := range tests {
		got, err := decode(encode(m))
		if err != nil {
			t.Fatalf("decode(encode(%v)): %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("decode(encode(m)) = %+v; want %+v", got, m)
		}
	}
}

func TestWireMalformed(t *testing.T) {
	good := encode(message{kind: kindChanges, from: nodeA, entries: []Entry{st(1, 1, "xyz")}})
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"one byte", []byte{1}},
		{"other version", append([]byte{2}, good[1:]...)},
		{"kind zero", append([]byte{1, 0}, good[2:]...)},
		{"unknown kind", append([]byte{1, 9}, good[2:]...)},
		{"node id too long", append([]byte{1, byte(kindBeat), 200, 1}, make([]byte, 300)...)},
		{"short instance", good[:5]},
		{"truncated state", good[:len(good)-1]},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"entry count beyond the bytes", append(append([]byte{}, good[:2+1+1+8]...), 0xff, 0xff, 0x03, 1, 1, 0)},
		{"bad varint", append(append([]byte{}, good[:2+1+1+8]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := decode(tt.b); !errors.Is(err, errMalformed) {
				t.Errorf("decode(%x) = %+v, %v; want errMalformed", tt.b, m, err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(message{kind: kindBeat, from: nodeA}))
	f.Add(encode(message{kind: kindChanges, from: nodeA, entries: []Entry{st(1, 1, "x"), st(2, 3, "")}}))
	f.Add(encode(message{kind: kindFull, from: nodeB, entries: []Entry{st(1, 1, "x")}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(b)
		if err != nil {
			return
		}
		again, err := decode(encode(m))
		if err != nil {
			t.Fatalf("decode(encode(decode(%x))): %v", b, err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("re-decoded %+v; want %+v", again, m)
		}
	})
}
