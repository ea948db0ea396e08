package protocol_test

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"

	"github.com/tandemhq/tandem/protocol"
)

// FuzzDecodeFrame feeds arbitrary bytes to DecodeFrame in both directions. It must never panic, and
// since every message has exactly one encoding, a frame that decodes must re-encode to the very
// same bytes and decode again to the same message.
func FuzzDecodeFrame(f *testing.F) {
	for _, c := range frameCases() {
		f.Add(protocol.EncodeFrame(c.frame.Channel, c.frame.Message))
	}
	for _, c := range badFrameCases {
		b, err := hex.DecodeString(c.hex)
		if err != nil {
			f.Fatalf("%s: %v", c.name, err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, from := range []protocol.Direction{protocol.FromClient, protocol.FromServer} {
			in := bytes.Clone(b)
			fr, err := protocol.DecodeFrame(in, from)
			if err != nil {
				if _, ok := protocol.CloseCodeFor(err); !ok {
					t.Fatalf("DecodeFrame(%x, %s) error %v maps to no close code", b, from, err)
				}
				continue
			}
			out := protocol.EncodeFrame(fr.Channel, fr.Message)
			if !bytes.Equal(out, b) {
				t.Fatalf("DecodeFrame(%x, %s) = %s, which encodes to %x", b, from, frameString(fr), out)
			}
			again, err := protocol.DecodeFrame(out, from)
			if err != nil || !reflect.DeepEqual(again, fr) {
				t.Fatalf("DecodeFrame(%x, %s) again = %s, %v; want %s", out, from, frameString(again), err, frameString(fr))
			}
		}
	})
}

// FuzzUvarint checks Uvarint against binary.Uvarint's reading of the same bytes plus this
// package's stricter rules.
func FuzzUvarint(f *testing.F) {
	for _, c := range varintCases {
		b, _ := hex.DecodeString(c.hex)
		f.Add(b)
	}
	for _, c := range badVarintCases {
		b, _ := hex.DecodeString(c.hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := protocol.Uvarint(b)
		if err != nil {
			return
		}
		if v > protocol.MaxUvarint || n < 1 || n > protocol.MaxUvarintLen {
			t.Fatalf("Uvarint(%x) = %d, %d; out of bounds", b, v, n)
		}
		if enc := protocol.AppendUvarint(nil, v); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("Uvarint(%x) = %d, %d, which encodes to %x", b, v, n, enc)
		}
	})
}
