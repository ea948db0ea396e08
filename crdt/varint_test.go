package crdt

import (
	"errors"
	"testing"
)

func TestReaderUv(t *testing.T) {
	tests := []struct {
		in   []byte
		want uint64
		ok   bool
	}{
		{[]byte{0x00}, 0, true},
		{[]byte{0x7f}, 127, true},
		{[]byte{0x80, 0x01}, 128, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f}, 1<<53 - 1, true},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10}, 0, false},       // 2^53
		{[]byte{0x80, 0x00}, 0, false},                                           // not minimal
		{[]byte{0xff, 0x80, 0x00}, 0, false},                                     // not minimal
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 0, false}, // 9 bytes
		{[]byte{0x80}, 0, false},                                                 // truncated
		{nil, 0, false},
	}
	for _, tt := range tests {
		r := reader{b: tt.in}
		got := r.uv()
		if (r.err == nil) != tt.ok || got != tt.want {
			t.Errorf("uv(%x) = %d, %v; want %d, ok=%v", tt.in, got, r.err, tt.want, tt.ok)
		}
		if r.err != nil && !errors.Is(r.err, ErrMalformedUpdate) {
			t.Errorf("uv(%x) error %v is not ErrMalformedUpdate", tt.in, r.err)
		}
		if tt.ok {
			if b := appendUv(nil, tt.want); string(b) != string(tt.in) {
				t.Errorf("appendUv(%d) = %x; want %x", tt.want, b, tt.in)
			}
			if n := uvLen(tt.want); n != len(tt.in) {
				t.Errorf("uvLen(%d) = %d; want %d", tt.want, n, len(tt.in))
			}
		}
	}
}

func TestReaderSv(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 64, 1<<51 - 1, -(1 << 51)} {
		b := appendSv(nil, v)
		r := reader{b: b}
		if got := r.sv(); r.err != nil || got != v {
			t.Errorf("sv(appendSv(%d) = %x) = %d, %v", v, b, got, r.err)
		}
	}
}

func TestReaderCountAndStr(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		read func(r *reader)
		ok   bool
	}{
		{"count within the bytes", []byte{2, 0, 0}, func(r *reader) { r.count(1) }, true},
		{"count beyond the bytes", []byte{3, 0, 0}, func(r *reader) { r.count(1) }, false},
		{"count of 2-byte items", []byte{2, 0, 0, 0}, func(r *reader) { r.count(2) }, false},
		{"str", []byte{2, 'h', 'i'}, func(r *reader) { r.str(10) }, true},
		{"str too long", []byte{2, 'h', 'i'}, func(r *reader) { r.str(1) }, false},
		{"str truncated", []byte{3, 'h', 'i'}, func(r *reader) { r.str(10) }, false},
		{"str invalid utf-8", []byte{1, 0xff}, func(r *reader) { r.str(10) }, false},
		{"str surrogate", []byte{3, 0xed, 0xa0, 0x80}, func(r *reader) { r.str(10) }, false},
		{"trailing bytes", []byte{0, 0}, func(r *reader) { r.uv(); r.end() }, false},
	}
	for _, tt := range tests {
		r := reader{b: tt.in}
		tt.read(&r)
		if (r.err == nil) != tt.ok {
			t.Errorf("%s: error %v; want ok=%v", tt.name, r.err, tt.ok)
		}
	}
}
