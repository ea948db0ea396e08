package storage

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestMetaRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    Meta
	}{
		{"zero", Meta{}},
		{"log only", Meta{Created: clockStart, Updated: clockStart.Add(time.Second), LogEntries: 3, LogBytes: 30, LastSeq: 3}},
		{"snapshot", Meta{
			Created: clockStart, Updated: clockStart.Add(time.Hour), Compacted: clockStart.Add(time.Minute),
			LogEntries: 1, LogBytes: 7, HasSnapshot: true, SnapshotBytes: 1 << 20, SnapshotSeq: 41, LastSeq: 42,
		}},
		{"empty snapshot", Meta{HasSnapshot: true}},
		{"before 1970", Meta{Created: time.Date(1969, 7, 20, 20, 17, 0, 123, time.UTC)}},
		{"large", Meta{LogEntries: 1<<62 + 1, LogBytes: 1<<63 - 1, SnapshotBytes: 1<<63 - 1, SnapshotSeq: 1<<64 - 2, LastSeq: 1<<64 - 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeMeta(encodeMeta(tt.m))
			if err != nil {
				t.Fatalf("decodeMeta(encodeMeta(%+v)) = %v; want no error", tt.m, err)
			}
			if !reflect.DeepEqual(got, tt.m) {
				t.Errorf("decodeMeta(encodeMeta(m)) = %+v; want %+v", got, tt.m)
			}
		})
	}
}

func TestDecodeMetaRefuses(t *testing.T) {
	good := encodeMeta(Meta{LastSeq: 300, LogEntries: 300})
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"one byte", []byte{metaVersion}},
		{"unknown version", append([]byte{9}, good[1:]...)},
		{"unknown flag", append([]byte{metaVersion, 0x80}, good[2:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"unterminated varint", []byte{metaVersion, 0, 0x80, 0x80}},
		{"count above int64", append([]byte{metaVersion, 0, 0, 0, 0},
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeMeta(tt.b)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("decodeMeta(%x) = %+v, %v; want ErrCorrupt", tt.b, got, err)
			}
		})
	}
}

// FuzzDecodeMeta checks that no input panics the decoder and that whatever it accepts encodes back
// to the same bytes.
func FuzzDecodeMeta(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeMeta(Meta{}))
	f.Add(encodeMeta(Meta{Created: clockStart, Updated: clockStart, LogEntries: 2, LogBytes: 9, LastSeq: 2}))
	f.Add(encodeMeta(Meta{HasSnapshot: true, SnapshotSeq: 1 << 40, SnapshotBytes: 5, LastSeq: 1 << 41}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeMeta(%x) = %v; want ErrCorrupt", b, err)
			}
			return
		}
		m2, err := decodeMeta(encodeMeta(m))
		if err != nil || !reflect.DeepEqual(m2, m) {
			t.Fatalf("decodeMeta(encodeMeta(%+v)) = %+v, %v; want the same, no error", m, m2, err)
		}
	})
}
