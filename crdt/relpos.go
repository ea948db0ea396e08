package crdt

import "fmt"

// Encode encodes r in the 0x04 format. The ID is written for RelBefore and
// RelAfter only.
func (r RelPos) Encode() []byte {
	b := make([]byte, 0, 4+len(r.Root)+16)
	b = append(b, formatRelPos, byte(r.Kind))
	b = appendStr(b, r.Root)
	if r.Kind == RelBefore || r.Kind == RelAfter {
		b = appendUv(b, r.ID.Client)
		b = appendUv(b, r.ID.Clock)
	}
	return b
}

// String returns a readable form such as "before(7,3)@body".
func (r RelPos) String() string {
	switch r.Kind {
	case RelBefore:
		return fmt.Sprintf("before(%d,%d)@%s", r.ID.Client, r.ID.Clock, r.Root)
	case RelAfter:
		return fmt.Sprintf("after(%d,%d)@%s", r.ID.Client, r.ID.Clock, r.Root)
	case RelStart:
		return "start@" + r.Root
	case RelEnd:
		return "end@" + r.Root
	}
	return fmt.Sprintf("relpos(%d)@%s", r.Kind, r.Root)
}

// DecodeRelPos decodes a 0x04 relative position. Errors wrap ErrMalformedUpdate.
func DecodeRelPos(b []byte) (RelPos, error) {
	rd := reader{b: b}
	if f := rd.byte1(); rd.err == nil && f != formatRelPos {
		return RelPos{}, fmt.Errorf("%w: format byte 0x%02x, want 0x04", ErrMalformedUpdate, f)
	}
	var r RelPos
	r.Kind = RelPosKind(rd.byte1())
	if rd.err == nil && r.Kind > RelEnd {
		rd.fail("relative position kind %d", r.Kind)
	}
	r.Root = rd.str(MaxRootNameBytes)
	if rd.err == nil && r.Root == "" {
		rd.fail("empty root name")
	}
	if r.Kind == RelBefore || r.Kind == RelAfter {
		r.ID.Client, r.ID.Clock = rd.uv(), rd.uv()
		if rd.err == nil && r.ID.Client == 0 {
			rd.fail("client id 0")
		}
	}
	rd.end()
	if rd.err != nil {
		return RelPos{}, fmt.Errorf("crdt: decode relative position: %w", rd.err)
	}
	return r, nil
}
