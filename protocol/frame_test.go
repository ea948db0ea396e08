package protocol_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/protocol"
)

type frameCase struct {
	name  string
	from  protocol.Direction
	frame protocol.Frame
}

// frameCases are the valid frames of frames.json: every message type, both directions where a
// type travels both ways, and the edges of every field (empty, one byte of length and two,
// the largest integers).
func frameCases() []frameCase {
	const max = protocol.MaxUvarint
	long := bytes.Repeat([]byte{0x5a}, 200) // a length that takes two varint bytes
	stateVector := []byte{0x03, 0x01, 0x05, 0x02}
	c := func(name string, from protocol.Direction, channel uint64, m protocol.Message) frameCase {
		return frameCase{name, from, protocol.Frame{Channel: channel, Message: m}}
	}
	client, server := protocol.FromClient, protocol.FromServer
	return []frameCase{
		c("hello, empty document", client, 0, &protocol.Hello{Version: 1, ClientID: 1}),
		c("hello, state vector, read-only", client, 0, &protocol.Hello{Version: 1, ClientID: 300, StateVector: stateVector, Flags: protocol.FlagReadOnly}),
		c("hello, largest client id", client, 0, &protocol.Hello{Version: 1, ClientID: max, StateVector: stateVector}),
		c("sync, nothing lacking", server, 0, &protocol.Sync{}),
		c("sync, update and state vector", server, 0, &protocol.Sync{Update: []byte{0x01, 0x00, 0x00, 0x00, 0x00}, StateVector: stateVector}),
		c("sync, long update", server, 0, &protocol.Sync{Update: long, StateVector: stateVector}),
		c("update from client", client, 0, &protocol.Update{Data: []byte{0x01, 0x02, 0x03}}),
		c("update from server", server, 0, &protocol.Update{Data: []byte{0x01, 0x02, 0x03}}),
		c("update, empty", client, 0, &protocol.Update{}),
		c("update, long", server, 0, &protocol.Update{Data: long}),
		c("update, channel 1", client, 1, &protocol.Update{Data: []byte{0xff}}),
		c("update, channel 300", server, 300, &protocol.Update{Data: []byte{0xff}}),
		c("update, largest channel", client, max, &protocol.Update{Data: []byte{0xff}}),
		c("ack 1", server, 0, &protocol.Ack{Seq: 1}),
		c("ack 300", server, 0, &protocol.Ack{Seq: 300}),
		c("ack, largest seq", server, 0, &protocol.Ack{Seq: max}),
		c("awareness from client", client, 0, &protocol.Awareness{Clock: 1, State: []byte(`{"user":"ana"}`)}),
		c("awareness from client, clear", client, 0, &protocol.Awareness{Clock: 2}),
		c("awareness from server, no entries", server, 0, &protocol.PeerAwareness{}),
		c("awareness from server, two entries, one left", server, 0, &protocol.PeerAwareness{Entries: []protocol.AwarenessEntry{
			{ClientID: 300, Clock: 1, State: []byte(`{"user":"ana"}`)},
			{ClientID: max, Clock: 7},
		}}),
		c("error forbidden", server, 0, &protocol.Error{Code: protocol.CloseForbidden, Message: "read-only connection sent an update"}),
		c("error, empty message", server, 0, &protocol.Error{Code: protocol.CloseTryAgainLater}),
		c("error, non-ASCII message", server, 0, &protocol.Error{Code: protocol.CloseUnsupportedVersion, Message: "versión 2 ≠ 1 🙂"}),
		c("error, message starting with a byte order mark", server, 0, &protocol.Error{Code: protocol.CloseBadMessage, Message: "\ufeffbom"}),
		c("error, lowest code", server, 0, &protocol.Error{Code: 1000}),
		c("error, highest code", server, 0, &protocol.Error{Code: 4999, Message: "x"}),
		c("broadcast from client", client, 0, &protocol.Broadcast{Payload: []byte(`{"typing":true}`)}),
		c("broadcast from client, empty", client, 0, &protocol.Broadcast{}),
		c("broadcast from server", server, 0, &protocol.PeerBroadcast{ClientID: 300, Payload: []byte(`{"typing":true}`)}),
		c("ping from client", client, 0, &protocol.Ping{Nonce: 0}),
		c("ping from server", server, 0, &protocol.Ping{Nonce: 128}),
		c("pong from client", client, 0, &protocol.Pong{Nonce: 128}),
		c("pong from server, largest nonce", server, 0, &protocol.Pong{Nonce: max}),
		c("auth", client, 0, &protocol.Auth{Token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"}),
		c("auth, empty token", client, 0, &protocol.Auth{}),
	}
}

type badCase struct {
	name string
	from protocol.Direction
	hex  string
	err  error
}

// badFrameCases are the malformed frames of frames.json, each with the error a decoder reports.
// When a frame has several faults, the first in byte order is reported.
var badFrameCases = []badCase{
	{"empty frame", protocol.FromClient, "", protocol.ErrTruncated},
	{"type 0x00", protocol.FromClient, "0000", protocol.ErrUnknownType},
	{"type 0x0b", protocol.FromServer, "0b00", protocol.ErrUnknownType},
	{"auth from server", protocol.FromServer, "0a000161", protocol.ErrUnexpectedType},
	{"auth without token", protocol.FromClient, "0a00", protocol.ErrTruncated},
	{"auth, token not utf-8", protocol.FromClient, "0a0001ff", protocol.ErrInvalidUTF8},
	{"type 0xff", protocol.FromClient, "ff", protocol.ErrUnknownType},
	{"sync from client", protocol.FromClient, "02000000", protocol.ErrUnexpectedType},
	{"ack from client", protocol.FromClient, "040001", protocol.ErrUnexpectedType},
	{"error from client", protocol.FromClient, "0600e82200", protocol.ErrUnexpectedType},
	{"hello from server", protocol.FromServer, "010001010000", protocol.ErrUnexpectedType},
	{"type byte only", protocol.FromClient, "03", protocol.ErrTruncated},
	{"truncated channel", protocol.FromClient, "0380", protocol.ErrTruncated},
	{"overlong channel", protocol.FromClient, "03800000", protocol.ErrOverlongVarint},
	{"channel 2^53", protocol.FromClient, "0380808080808080100100", protocol.ErrVarintOverflow},
	{"channel of 9 bytes", protocol.FromClient, "03808080808080808001", protocol.ErrVarintOverflow},
	{"channel 2^56-1", protocol.FromClient, "03ffffffffffffff7f00", protocol.ErrVarintOverflow},
	{"update without length", protocol.FromClient, "0300", protocol.ErrTruncated},
	{"update length beyond the frame", protocol.FromClient, "0300050102", protocol.ErrTruncated},
	{"update length 2^53-1", protocol.FromClient, "0300ffffffffffffff0f", protocol.ErrTruncated},
	{"update length 2^53", protocol.FromClient, "030080808080808080100000", protocol.ErrVarintOverflow},
	{"update length overlong", protocol.FromServer, "0300810001", protocol.ErrOverlongVarint},
	{"update, trailing byte", protocol.FromClient, "030001aa00", protocol.ErrTrailingBytes},
	{"ping, trailing byte", protocol.FromClient, "08000100", protocol.ErrTrailingBytes},
	{"pong without nonce", protocol.FromServer, "0900", protocol.ErrTruncated},
	{"ack 2^53", protocol.FromServer, "04008080808080808010", protocol.ErrVarintOverflow},
	{"hello without version", protocol.FromClient, "0100", protocol.ErrTruncated},
	{"hello version 0", protocol.FromClient, "010000010000", protocol.ErrInvalidVersion},
	{"hello version 2", protocol.FromClient, "010002010000", protocol.ErrUnsupportedVersion},
	{"hello version 2, other layout", protocol.FromClient, "010002ffff", protocol.ErrUnsupportedVersion},
	{"hello client id 0", protocol.FromClient, "010001000000", protocol.ErrInvalidClientID},
	{"hello client id 2^53", protocol.FromClient, "01000180808080808080100000", protocol.ErrVarintOverflow},
	{"hello without flags", protocol.FromClient, "0100010100", protocol.ErrTruncated},
	{"hello reserved flag", protocol.FromClient, "010001010002", protocol.ErrReservedFlags},
	{"hello, trailing byte", protocol.FromClient, "01000101000000", protocol.ErrTrailingBytes},
	{"sync without state vector", protocol.FromServer, "020000", protocol.ErrTruncated},
	{"error code 999", protocol.FromServer, "0600e70700", protocol.ErrInvalidCloseCode},
	{"error code 5000", protocol.FromServer, "0600882700", protocol.ErrInvalidCloseCode},
	{"error code 65536+4403", protocol.FromServer, "0600b3a20400", protocol.ErrInvalidCloseCode},
	{"error message byte 0xff", protocol.FromServer, "0600b32201ff", protocol.ErrInvalidUTF8},
	{"error message overlong NUL", protocol.FromServer, "0600b32202c080", protocol.ErrInvalidUTF8},
	{"error message surrogate", protocol.FromServer, "0600b32203eda080", protocol.ErrInvalidUTF8},
	{"error message cut in a character", protocol.FromServer, "0600b32202e282", protocol.ErrInvalidUTF8},
	{"error message length beyond the frame", protocol.FromServer, "0600b3220561", protocol.ErrTruncated},
	{"awareness from client without state", protocol.FromClient, "050001", protocol.ErrTruncated},
	{"awareness from server, count beyond the frame", protocol.FromServer, "050002010000", protocol.ErrTruncated},
	{"awareness from server, count 2^53-1", protocol.FromServer, "0500ffffffffffffff0f", protocol.ErrTruncated},
	{"awareness from server, client id 0", protocol.FromServer, "050001000100", protocol.ErrInvalidClientID},
	{"awareness from server, second entry cut", protocol.FromServer, "050002010102aabb0101", protocol.ErrTruncated},
	{"awareness from server, trailing byte", protocol.FromServer, "05000101010000", protocol.ErrTrailingBytes},
	{"broadcast from server, client id 0", protocol.FromServer, "07000000", protocol.ErrInvalidClientID},
	{"broadcast from server without payload", protocol.FromServer, "070001", protocol.ErrTruncated},
}

type varintCase struct {
	value uint64
	hex   string
}

var varintCases = []varintCase{
	{0, "00"},
	{1, "01"},
	{127, "7f"},
	{128, "8001"},
	{300, "ac02"},
	{16383, "ff7f"},
	{16384, "808001"},
	{1<<21 - 1, "ffff7f"},
	{1 << 21, "80808001"},
	{1<<32 - 1, "ffffffff0f"},
	{1 << 32, "8080808010"},
	{1<<49 - 1, "ffffffffffff7f"},
	{1 << 49, "80808080808080" + "01"},
	{1<<53 - 1, "ffffffffffffff0f"},
}

var badVarintCases = []struct {
	name string
	hex  string
	err  error
}{
	{"empty", "", protocol.ErrTruncated},
	{"continuation, then nothing", "80", protocol.ErrTruncated},
	{"seven continuation bytes", "ffffffffffffff", protocol.ErrTruncated},
	{"2^53", "8080808080808010", protocol.ErrVarintOverflow},
	{"2^56-1", "ffffffffffffff7f", protocol.ErrVarintOverflow},
	{"nine bytes", "808080808080808001", protocol.ErrVarintOverflow},
	{"eight continuation bytes", "ffffffffffffffff", protocol.ErrVarintOverflow},
	{"zero in two bytes", "8000", protocol.ErrOverlongVarint},
	{"one in two bytes", "8100", protocol.ErrOverlongVarint},
	{"zero in eight bytes", "8080808080808000", protocol.ErrOverlongVarint},
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// TestRoundTrip checks every message: decode(encode(m)) == m, the bytes re-encode identically,
// FrameSize is exact, and AppendFrame leaves what precedes it alone.
func TestRoundTrip(t *testing.T) {
	for _, c := range frameCases() {
		t.Run(c.name, func(t *testing.T) {
			b := protocol.EncodeFrame(c.frame.Channel, c.frame.Message)
			if got, want := len(b), protocol.FrameSize(c.frame.Channel, c.frame.Message); got != want || cap(b) != want {
				t.Errorf("len, cap of EncodeFrame = %d, %d; want FrameSize %d", got, cap(b), want)
			}
			got, err := protocol.DecodeFrame(b, c.from)
			if err != nil {
				t.Fatalf("DecodeFrame(%x) error: %v", b, err)
			}
			if !reflect.DeepEqual(got, c.frame) {
				t.Fatalf("DecodeFrame(%x) = %s; want %s", b, frameString(got), frameString(c.frame))
			}
			if again := protocol.EncodeFrame(got.Channel, got.Message); !bytes.Equal(again, b) {
				t.Errorf("re-encoded = %x; want %x", again, b)
			}
			prefix := []byte("abc")
			if got := protocol.AppendFrame(prefix, c.frame.Channel, c.frame.Message); !bytes.Equal(got, append([]byte("abc"), b...)) {
				t.Errorf("AppendFrame(%q, ...) = %x; want the prefix then %x", prefix, got, b)
			}
		})
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	for _, c := range badFrameCases {
		t.Run(c.name, func(t *testing.T) {
			b := mustHex(t, c.hex)
			f, err := protocol.DecodeFrame(b, c.from)
			if !errors.Is(err, c.err) {
				t.Fatalf("DecodeFrame(%x, %s) = %s, %v; want error %v", b, c.from, frameString(f), err, c.err)
			}
			if !strings.HasPrefix(err.Error(), "protocol: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if f != (protocol.Frame{}) {
				t.Errorf("DecodeFrame(%x) frame = %s; want the zero frame with an error", b, frameString(f))
			}
			code, ok := protocol.CloseCodeFor(err)
			want := protocol.CloseBadMessage
			if errors.Is(err, protocol.ErrUnsupportedVersion) {
				want = protocol.CloseUnsupportedVersion
			}
			if code != want || !ok {
				t.Errorf("CloseCodeFor(%v) = %v, %v; want %v, true", err, code, ok, want)
			}
		})
	}
}

// TestDecodeFrameTruncations cuts every valid frame short at every length: each cut must fail,
// with ErrTruncated unless the cut happens to leave another valid frame's prefix fault first.
func TestDecodeFrameTruncations(t *testing.T) {
	for _, c := range frameCases() {
		b := protocol.EncodeFrame(c.frame.Channel, c.frame.Message)
		for n := 0; n < len(b); n++ {
			if f, err := protocol.DecodeFrame(b[:n], c.from); err == nil {
				t.Errorf("%s: DecodeFrame(%x) = %s; want an error", c.name, b[:n], frameString(f))
			}
		}
	}
}

// TestDecodeFrameDirections checks which types each direction accepts.
func TestDecodeFrameDirections(t *testing.T) {
	// A frame of each type with a payload valid in the direction that allows it.
	frames := map[protocol.Type]string{
		protocol.TypeHello:     "010001010000",
		protocol.TypeSync:      "02000000",
		protocol.TypeUpdate:    "030000",
		protocol.TypeAck:       "040001",
		protocol.TypeAwareness: "05000100", // client: clock 1, state empty; server: count 1, then cut
		protocol.TypeError:     "0600e80700",
		protocol.TypeBroadcast: "070000",
		protocol.TypePing:      "080000",
		protocol.TypePong:      "090000",
		protocol.TypeAuth:      "0a000161",
	}
	tests := []struct {
		from    protocol.Direction
		allowed []protocol.Type
	}{
		{protocol.FromClient, []protocol.Type{protocol.TypeHello, protocol.TypeUpdate, protocol.TypeAwareness, protocol.TypeBroadcast, protocol.TypePing, protocol.TypePong, protocol.TypeAuth}},
		{protocol.FromServer, []protocol.Type{protocol.TypeSync, protocol.TypeUpdate, protocol.TypeAck, protocol.TypeAwareness, protocol.TypeError, protocol.TypeBroadcast, protocol.TypePing, protocol.TypePong}},
		{protocol.Direction(0), nil},
	}
	for _, tt := range tests {
		for typ, h := range frames {
			_, err := protocol.DecodeFrame(mustHex(t, h), tt.from)
			wantAllowed := false
			for _, a := range tt.allowed {
				wantAllowed = wantAllowed || a == typ
			}
			if gotAllowed := !errors.Is(err, protocol.ErrUnexpectedType); gotAllowed != wantAllowed {
				t.Errorf("DecodeFrame(%s from %s) error = %v; want allowed %v", typ, tt.from, err, wantAllowed)
			}
		}
	}
}

// TestDecodeFrameAliasing checks that byte fields alias the input and cannot grow into it.
func TestDecodeFrameAliasing(t *testing.T) {
	b := mustHex(t, "020002aabb02ccdd")
	f, err := protocol.DecodeFrame(b, protocol.FromServer)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Message.(*protocol.Sync)
	if &s.Update[0] != &b[3] {
		t.Errorf("Sync.Update is a copy; want a slice of the input")
	}
	if cap(s.Update) != len(s.Update) {
		t.Errorf("cap(Sync.Update) = %d; want %d", cap(s.Update), len(s.Update))
	}
	_ = append(s.Update, 0x00)
	if got := b[5]; got != 0x02 {
		t.Errorf("appending to Sync.Update changed the input to %x", b)
	}
}

func TestUvarint(t *testing.T) {
	for _, c := range varintCases {
		b := mustHex(t, c.hex)
		if got := protocol.AppendUvarint(nil, c.value); !bytes.Equal(got, b) {
			t.Errorf("AppendUvarint(%d) = %x; want %s", c.value, got, c.hex)
		}
		if got := protocol.UvarintLen(c.value); got != len(b) {
			t.Errorf("UvarintLen(%d) = %d; want %d", c.value, got, len(b))
		}
		v, n, err := protocol.Uvarint(append(b, 0xee)) // a following byte is not read
		if v != c.value || n != len(b) || err != nil {
			t.Errorf("Uvarint(%s ee) = %d, %d, %v; want %d, %d, nil", c.hex, v, n, err, c.value, len(b))
		}
	}
	for _, c := range badVarintCases {
		b := mustHex(t, c.hex)
		if v, n, err := protocol.Uvarint(b); err != c.err || v != 0 || n != 0 {
			t.Errorf("%s: Uvarint(%s) = %d, %d, %v; want 0, 0, %v", c.name, c.hex, v, n, err, c.err)
		}
	}
}

// TestUvarintLimits walks the powers of two around every length boundary and the 2^53 bound.
func TestUvarintLimits(t *testing.T) {
	for shift := 0; shift <= 53; shift++ {
		for _, v := range []uint64{1<<shift - 1, 1 << shift, 1<<shift + 1} {
			b := protocol.AppendUvarint(nil, v)
			got, n, err := protocol.Uvarint(b)
			switch {
			case v > protocol.MaxUvarint:
				if !errors.Is(err, protocol.ErrVarintOverflow) {
					t.Errorf("Uvarint(%x) (value %d) error = %v; want ErrVarintOverflow", b, v, err)
				}
			case got != v || n != len(b) || err != nil:
				t.Errorf("Uvarint(%x) = %d, %d, %v; want %d, %d, nil", b, got, n, err, v, len(b))
			}
		}
	}
}

// TestEncodeSyncFrame checks that a sync frame whose update is written in place is the frame
// EncodeFrame builds from the same update, whatever the lengths of the channel and the update.
func TestEncodeSyncFrame(t *testing.T) {
	sv := []byte{1, 2, 3}
	for _, tc := range []struct {
		channel   uint64
		updateLen int
		sv        []byte
	}{
		{0, 0, nil},
		{0, 1, sv},
		{0, 127, sv},
		{0, 128, sv},
		{0, 1023, sv},
		{0, 1024, nil},
		{0, 16383, sv},
		{0, 16384, sv},
		{300, 5, sv},
		{protocol.MaxUvarint, 200_000, sv},
		{0, 2_100_000, sv},
	} {
		update := bytes.Repeat([]byte{0xa5}, tc.updateLen)
		got := protocol.EncodeSyncFrame(tc.channel, func(dst []byte) []byte { return append(dst, update...) }, tc.sv)
		want := protocol.EncodeFrame(tc.channel, &protocol.Sync{Update: update, StateVector: tc.sv})
		if !bytes.Equal(got, want) {
			t.Errorf("EncodeSyncFrame(%d, %d update bytes) = %d bytes %x...; want %d bytes %x...",
				tc.channel, tc.updateLen, len(got), got[:min(len(got), 16)], len(want), want[:min(len(want), 16)])
		}
	}
}
