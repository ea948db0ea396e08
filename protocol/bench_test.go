package protocol_test

import (
	"fmt"
	"testing"

	"github.com/tandemhq/tandem/protocol"
)

func BenchmarkEncodeFrame(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		m := &protocol.Update{Data: make([]byte, size)}
		b.Run(fmt.Sprintf("update/%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				_ = protocol.EncodeFrame(0, m)
			}
		})
	}
	b.Run("append/update/1024", func(b *testing.B) {
		m := &protocol.Update{Data: make([]byte, 1<<10)}
		buf := make([]byte, 0, 2<<10)
		b.ReportAllocs()
		for b.Loop() {
			buf = protocol.AppendFrame(buf[:0], 0, m)
		}
	})
}

func BenchmarkDecodeFrame(b *testing.B) {
	frames := []struct {
		name string
		from protocol.Direction
		m    protocol.Message
	}{
		{"update/1024", protocol.FromClient, &protocol.Update{Data: make([]byte, 1<<10)}},
		{"update/65536", protocol.FromClient, &protocol.Update{Data: make([]byte, 64<<10)}},
		{"hello", protocol.FromClient, &protocol.Hello{Version: 1, ClientID: 1<<53 - 1, StateVector: make([]byte, 64)}},
		{"awareness/10", protocol.FromServer, &protocol.PeerAwareness{Entries: make10Entries()}},
		{"error", protocol.FromServer, &protocol.Error{Code: protocol.CloseBadMessage, Message: "malformed frame"}},
	}
	for _, f := range frames {
		buf := protocol.EncodeFrame(0, f.m)
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := protocol.DecodeFrame(buf, f.from); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func make10Entries() []protocol.AwarenessEntry {
	e := make([]protocol.AwarenessEntry, 10)
	for i := range e {
		e[i] = protocol.AwarenessEntry{ClientID: uint64(i + 1), Clock: 3, State: []byte(`{"user":"ana","cursor":"AQIDBA"}`)}
	}
	return e
}
