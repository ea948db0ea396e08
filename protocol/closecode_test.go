package protocol_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tandemhq/tandem/protocol"
)

// closeCodeCases are the named close codes; frames.json carries them for the JavaScript twin.
var closeCodeCases = []struct {
	code     protocol.CloseCode
	name     string
	terminal bool
}{
	{protocol.CloseNormal, "normal", false},
	{protocol.CloseGoingAway, "going away", false},
	{protocol.CloseProtocolError, "protocol error", false},
	{protocol.CloseUnsupportedData, "unsupported data", false},
	{protocol.ClosePolicyViolation, "policy violation", false},
	{protocol.CloseMessageTooBig, "message too big", false},
	{protocol.CloseInternalError, "internal error", false},
	{protocol.CloseTryAgainLater, "try again later", false},
	{protocol.CloseBadMessage, "bad message", false},
	{protocol.CloseUnauthorized, "unauthorized", true},
	{protocol.CloseForbidden, "forbidden", true},
	{protocol.CloseDocumentDeleted, "document deleted", true},
	{protocol.CloseUnsupportedVersion, "unsupported version", true},
	{protocol.CloseDocumentTooLarge, "document too large", true},
	{protocol.CloseInvalidUpdate, "invalid update", false},
	{protocol.CloseRateLimited, "rate limited", false},
}

func TestCloseCodes(t *testing.T) {
	for _, c := range closeCodeCases {
		if got := c.code.Name(); got != c.name {
			t.Errorf("CloseCode(%d).Name() = %q; want %q", uint16(c.code), got, c.name)
		}
		if got, want := c.code.String(), fmt.Sprintf("%d %s", uint16(c.code), c.name); got != want {
			t.Errorf("CloseCode(%d).String() = %q; want %q", uint16(c.code), got, want)
		}
		if got := c.code.Terminal(); got != c.terminal {
			t.Errorf("CloseCode(%d).Terminal() = %v; want %v", uint16(c.code), got, c.terminal)
		}
	}
	for _, code := range []protocol.CloseCode{0, 1004, 1005, 1006, 1015, 4000, 4402, 4999} {
		if got, want := code.String(), fmt.Sprint(uint16(code)); got != want || code.Name() != "" || code.Terminal() {
			t.Errorf("CloseCode(%d) String, Name, Terminal = %q, %q, %v; want %q, \"\", false", uint16(code), got, code.Name(), code.Terminal(), want)
		}
	}
}

func TestCloseCodeFor(t *testing.T) {
	_, decodeErr := protocol.DecodeFrame([]byte{0x03, 0x00, 0x05}, protocol.FromClient)
	_, versionErr := protocol.DecodeFrame([]byte{0x01, 0x00, 0x02}, protocol.FromClient)
	refusal := protocol.Errorf(protocol.CloseForbidden, "read-only")
	tests := []struct {
		name     string
		err      error
		wantCode protocol.CloseCode
		wantOK   bool
	}{
		{"nil", nil, 0, false},
		{"foreign error", errors.New("storage: disk full"), 0, false},
		{"decode error", decodeErr, protocol.CloseBadMessage, true},
		{"wrapped decode error", fmt.Errorf("server: conn 7: %w", decodeErr), protocol.CloseBadMessage, true},
		{"unsupported version", versionErr, protocol.CloseUnsupportedVersion, true},
		{"bare sentinel", protocol.ErrTrailingBytes, protocol.CloseBadMessage, true},
		{"refusal", refusal, protocol.CloseForbidden, true},
		{"wrapped refusal", fmt.Errorf("server: doc a: %w", refusal), protocol.CloseForbidden, true},
	}
	for _, tt := range tests {
		code, ok := protocol.CloseCodeFor(tt.err)
		if code != tt.wantCode || ok != tt.wantOK {
			t.Errorf("%s: CloseCodeFor(%v) = %v, %v; want %v, %v", tt.name, tt.err, code, ok, tt.wantCode, tt.wantOK)
		}
	}
}

func TestError(t *testing.T) {
	e := protocol.Errorf(protocol.CloseRateLimited, "%d updates in %s", 500, "1s")
	if got, want := e.Error(), "protocol: 4429 rate limited: 500 updates in 1s"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if got := e.Type(); got != protocol.TypeError {
		t.Errorf("Type() = %v; want %v", got, protocol.TypeError)
	}
}

func TestCloseReason(t *testing.T) {
	tests := []struct {
		name, message, want string
	}{
		{"short", "read-only", "read-only"},
		{"empty", "", ""},
		{"exactly 123 bytes", strings.Repeat("a", 123), strings.Repeat("a", 123)},
		{"ASCII cut", strings.Repeat("a", 200), strings.Repeat("a", 123)},
		// 122 ASCII bytes, then a 3-byte character that does not fit: cut before it.
		{"cut before a character", strings.Repeat("a", 122) + "€€", strings.Repeat("a", 122)},
		// 120 ASCII bytes and a 3-byte character end exactly at 123.
		{"character ending at 123", strings.Repeat("a", 120) + "€€", strings.Repeat("a", 120) + "€"},
		{"4-byte characters", strings.Repeat("🙂", 40), strings.Repeat("🙂", 30)},
	}
	for _, tt := range tests {
		e := &protocol.Error{Code: protocol.CloseBadMessage, Message: tt.message}
		got := e.CloseReason()
		if got != tt.want {
			t.Errorf("%s: CloseReason() = %q; want %q", tt.name, got, tt.want)
		}
		if len(got) > 123 || !utf8.ValidString(got) {
			t.Errorf("%s: CloseReason() = %q: %d bytes, valid UTF-8 %v", tt.name, got, len(got), utf8.ValidString(got))
		}
	}
}

func TestTypeString(t *testing.T) {
	tests := []struct {
		typ  protocol.Type
		want string
	}{
		{protocol.TypeHello, "hello"},
		{protocol.TypePong, "pong"},
		{protocol.TypeAuth, "auth"},
		{0x0b, "type(0x0b)"},
		{0xff, "type(0xff)"},
	}
	for _, tt := range tests {
		if got := tt.typ.String(); got != tt.want {
			t.Errorf("Type(%#x).String() = %q; want %q", byte(tt.typ), got, tt.want)
		}
	}
}
