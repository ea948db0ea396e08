package wsframe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// Opcode is a frame's opcode (RFC 6455 section 5.2).
type Opcode byte

// The opcodes RFC 6455 defines; the others are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xa
)

// IsControl reports whether op is a control opcode (close, ping, pong or a reserved one).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("opcode %d", byte(op))
}

// Close codes (RFC 6455 section 7.4.1) that this package uses.
const (
	CloseNormal          uint16 = 1000
	CloseProtocolError   uint16 = 1002
	CloseUnsupportedData uint16 = 1003
	CloseNoStatus        uint16 = 1005 // never sent: what a close frame without a code means
	CloseInvalidData     uint16 = 1007
	ClosePolicyViolation uint16 = 1008
	CloseMessageTooBig   uint16 = 1009
	CloseTryAgainLater   uint16 = 1013
	MaxControlPayload           = 125 // bytes of a control frame's payload
	MaxHeaderBytes              = 14  // the longest frame header: 2 + 8 (length) + 4 (mask key)
	maxServerHeaderBytes        = 10  // a server's frames are not masked
)

// Sentinel errors; an *Error matches the one of its code with errors.Is.
var (
	// ErrProtocol is a violation of the framing rules (close code 1002).
	ErrProtocol = errors.New("wsframe: protocol error")
	// ErrInvalidData is a text message that is not UTF-8, or compressed data that does not
	// inflate (close code 1007).
	ErrInvalidData = errors.New("wsframe: invalid payload data")
	// ErrTooBig is a message whose frame headers take it past the size limit (close code 1009).
	ErrTooBig = errors.New("wsframe: message too big")
	// ErrInflatedTooBig is a compressed message that inflates past the size limit. Unlike the
	// errors above, it leaves the stream readable: the message has been read to its end.
	ErrInflatedTooBig = errors.New("wsframe: message too big once inflated")
	// ErrUnsupported is a text message where Config.RefuseText refuses them, at its first frame
	// (close code 1003).
	ErrUnsupported = errors.New("wsframe: unsupported data")
	// ErrStalled is a frame or fragmented message begun and not continued within
	// Config.StallTimeout (close code 1008).
	ErrStalled = errors.New("wsframe: frame stalled")
	// ErrOverBudget is a message whose next bytes the Budget could not hold (close code 1013).
	ErrOverBudget = errors.New("wsframe: over the budget of messages being received")
)

// Error is a violation of RFC 6455 by the peer. The connection must be failed: a close frame with
// Code and Reason, and nothing more read from the stream.
type Error struct {
	Code   uint16
	Reason string // short, ASCII, fits a close frame
}

func (e *Error) Error() string { return fmt.Sprintf("wsframe: %s (close %d)", e.Reason, e.Code) }

// Is makes an *Error match the sentinel of its code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrProtocol:
		return e.Code == CloseProtocolError
	case ErrInvalidData:
		return e.Code == CloseInvalidData
	case ErrTooBig:
		return e.Code == CloseMessageTooBig
	case ErrUnsupported:
		return e.Code == CloseUnsupportedData
	case ErrStalled:
		return e.Code == ClosePolicyViolation
	case ErrOverBudget:
		return e.Code == CloseTryAgainLater
	}
	return false
}

func protocolError(reason string) *Error { return &Error{Code: CloseProtocolError, Reason: reason} }

// AppendHeader appends the header of a final, unmasked frame (a server's frame) with opcode op and
// n bytes of payload, and returns the extended slice.
func AppendHeader(dst []byte, op Opcode, n int) []byte {
	b0 := 0x80 | byte(op)
	switch {
	case n <= 125:
		return append(dst, b0, byte(n))
	case n <= 0xffff:
		return append(dst, b0, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(n))
	}
}

// HeaderLen returns the length of the header AppendHeader writes for n bytes of payload.
func HeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xffff:
		return 4
	}
	return maxServerHeaderBytes
}

// ClosePayload returns the payload of a close frame with code and reason; the reason is cut to
// fit in a control frame, at a rune boundary. CloseNoStatus gives an empty payload.
func ClosePayload(code uint16, reason string) []byte {
	if code == CloseNoStatus {
		return nil
	}
	for len(reason) > MaxControlPayload-2 {
		_, size := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-size]
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), code)
	return append(b, reason...)
}

// ParseClose returns the code and reason of a close frame's payload; an empty payload gives
// CloseNoStatus. A payload of one byte, a code that may not be sent, or a reason that is not
// UTF-8 is an *Error (1002).
func ParseClose(p []byte) (code uint16, reason string, err error) {
	switch {
	case len(p) == 0:
		return CloseNoStatus, "", nil
	case len(p) == 1:
		return 0, "", protocolError("close payload of 1 byte")
	}
	code = binary.BigEndian.Uint16(p)
	if !validCloseCode(code) {
		return 0, "", protocolError(fmt.Sprintf("close code %d", code))
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", protocolError("close reason is not UTF-8")
	}
	return code, string(p[2:]), nil
}

// validCloseCode reports whether a peer may send code in a close frame: the codes RFC 6455 and
// its registry define for use on the wire (1004, 1005, 1006 and 1015 are not), and the ranges
// left to libraries (3000-3999) and applications (4000-4999).
func validCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// maskAt XORs b with the masking key (RFC 6455 section 5.3), b being the part of a payload that
// starts at offset off. Masking is its own inverse. It works a machine word at a time.
func maskAt(key [4]byte, off int, b []byte) {
	k32 := bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*(off&3))
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k64)
	}
	for ; i < len(b); i++ {
		b[i] ^= byte(k32 >> (8 * (i & 3)))
	}
}
