package crdt

import "errors"

// Sentinel errors. Returned errors wrap one of these with detail; test them with
// errors.Is.
var (
	// ErrInvalidClientID reports a client ID of 0 or above MaxClientID.
	ErrInvalidClientID = errors.New("crdt: invalid client id")
	// ErrMalformedUpdate reports bytes that are not a valid update, snapshot,
	// state vector or relative position (docs/crdt.md section 2; section 1.6,
	// rule 4, lists what an update is refused for).
	ErrMalformedUpdate = errors.New("crdt: malformed update")
	// ErrPendingOverflow reports an update refused because its units would make
	// the pending buffer exceed Config.MaxPendingBytes.
	ErrPendingOverflow = errors.New("crdt: pending buffer overflow")
	// ErrOutOfRange reports a position or length outside the text.
	ErrOutOfRange = errors.New("crdt: position out of range")
	// ErrInvalidText reports text that is not valid UTF-8 (or holds surrogates).
	ErrInvalidText = errors.New("crdt: invalid text")
	// ErrInvalidJSON reports a map value that is not valid JSON or exceeds MaxValueBytes.
	ErrInvalidJSON = errors.New("crdt: invalid json value")
	// ErrInvalidName reports a root name or map key that is not valid UTF-8 or
	// whose length is outside the allowed range.
	ErrInvalidName = errors.New("crdt: invalid name")
	// ErrClockOverflow reports a local edit that would make the client's clock reach 2^53.
	ErrClockOverflow = errors.New("crdt: clock overflow")
	// ErrUnknownPosition reports a Before or After relative position whose item
	// the document does not have (yet), or has in another root. Start and End
	// always resolve (to 0 and the length, 0 for a root that does not exist).
	ErrUnknownPosition = errors.New("crdt: unknown position")
	// ErrNotImplemented is returned by functions that are not written yet.
	ErrNotImplemented = errors.New("crdt: not implemented")
)
