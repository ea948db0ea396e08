package protocol

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Sentinel errors. The errors that [DecodeFrame] and [Uvarint] return wrap one of them (test with
// errors.Is) and add where in the frame the problem is.
var (
	// ErrTruncated: the frame ends before a field does, or a declared length or count exceeds the
	// bytes that remain. An empty frame is truncated too.
	ErrTruncated = errors.New("protocol: truncated")
	// ErrUnknownType: the type byte names no message of this protocol version.
	ErrUnknownType = errors.New("protocol: unknown message type")
	// ErrUnexpectedType: the message type exists but may not be sent in this direction (a client
	// sending sync, a server sending hello).
	ErrUnexpectedType = errors.New("protocol: unexpected message type")
	// ErrTrailingBytes: bytes remain after the payload.
	ErrTrailingBytes = errors.New("protocol: trailing bytes")
	// ErrVarintOverflow: a varint exceeds MaxUvarint or runs past MaxUvarintLen bytes.
	ErrVarintOverflow = errors.New("protocol: varint overflow")
	// ErrOverlongVarint: a varint is not in its shortest form.
	ErrOverlongVarint = errors.New("protocol: overlong varint")
	// ErrInvalidUTF8: a string is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("protocol: invalid utf-8")
	// ErrInvalidClientID: a client ID is 0 (client IDs are in [1, 2^53)).
	ErrInvalidClientID = errors.New("protocol: invalid client id")
	// ErrInvalidVersion: a hello carries protocol version 0, which no peer speaks.
	ErrInvalidVersion = errors.New("protocol: invalid protocol version")
	// ErrUnsupportedVersion: a hello carries a protocol version other than Version. The rest of
	// that hello is not read, since another version may lay it out differently.
	ErrUnsupportedVersion = errors.New("protocol: unsupported protocol version")
	// ErrReservedFlags: a hello sets flag bits that this version reserves.
	ErrReservedFlags = errors.New("protocol: reserved flags set")
	// ErrInvalidCloseCode: an error message carries a code outside 1000-4999.
	ErrInvalidCloseCode = errors.New("protocol: invalid close code")
)

// Error is a refusal with a close code. It is at once a Go error and the error message (type
// 0x06): code deep in the server returns it like any error, and the connection sends it as a
// frame, then closes with the same code, in one place.
//
// Message is for people (logs, a client's status line); programs decide on Code. Keep it short:
// the server repeats it, cut by [Error.CloseReason], as the reason of the close frame.
type Error struct {
	Code    CloseCode
	Message string
}

// Errorf returns an *Error with the given code and a message formatted as by fmt.Sprintf.
func Errorf(code CloseCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error returns "protocol: ", the code with its name, and the message, such as
// "protocol: 4403 forbidden: read-only connection".
func (e *Error) Error() string {
	return "protocol: " + e.Code.String() + ": " + e.Message
}

// maxCloseReasonBytes is the longest reason a close frame may carry: a control frame's payload is
// at most 125 bytes, 2 of which hold the code (RFC 6455 section 5.5).
const maxCloseReasonBytes = 123

// CloseReason returns Message cut to the 123 bytes that a WebSocket close frame's reason may
// hold, at a character boundary so that it stays valid UTF-8.
func (e *Error) CloseReason() string {
	s := e.Message
	if len(s) <= maxCloseReasonBytes {
		return s
	}
	s = s[:maxCloseReasonBytes]
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size > 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// CloseCodeFor returns the close code for an error of this package: an *Error's own code,
// [CloseUnsupportedVersion] for ErrUnsupportedVersion, and [CloseBadMessage] for any other
// decoding error. ok is false for errors that are not this package's (nil included), which the
// caller maps itself.
func CloseCodeFor(err error) (code CloseCode, ok bool) {
	if err == nil {
		return 0, false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code, true
	}
	if errors.Is(err, ErrUnsupportedVersion) {
		return CloseUnsupportedVersion, true
	}
	if isDecodeError(err) {
		return CloseBadMessage, true
	}
	return 0, false
}

// isDecodeError reports whether err wraps a sentinel that means "this frame is malformed".
func isDecodeError(err error) bool {
	for _, d := range [...]error{
		ErrTruncated, ErrUnknownType, ErrUnexpectedType, ErrTrailingBytes, ErrVarintOverflow,
		ErrOverlongVarint, ErrInvalidUTF8, ErrInvalidClientID, ErrInvalidVersion, ErrReservedFlags,
		ErrInvalidCloseCode,
	} {
		if errors.Is(err, d) {
			return true
		}
	}
	return false
}
