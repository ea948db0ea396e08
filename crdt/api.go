package crdt

// MaxClientID is the largest valid client ID (2^53 - 1), so that JavaScript holds
// every ID exactly in a Number. Client IDs are in [1, MaxClientID].
const MaxClientID = 1<<53 - 1

// Limits of names and values (docs/crdt.md section 1).
const (
	MaxRootNameBytes = 255     // a root name is 1 to 255 bytes of UTF-8
	MaxKeyBytes      = 1024    // a map key is 0 to 1024 bytes of UTF-8
	MaxValueBytes    = 1 << 20 // a map value is at most 1 MiB of JSON
)

// DefaultMaxPendingBytes is the pending buffer bound used when
// Config.MaxPendingBytes is zero.
const DefaultMaxPendingBytes = 8 << 20

// ID names one unit of change: the Clock-th unit of client Client.
type ID struct{ Client, Clock uint64 }

// StateVector maps each client to its next clock: the document has every unit
// of that client with a clock below it. Absent clients have 0.
type StateVector map[uint64]uint64

// Config tunes a Doc. The zero value is ready to use.
type Config struct {
	// MaxPendingBytes bounds the encoded size of units and delete ranges that
	// wait for their dependencies. Zero means 8 MiB (DefaultMaxPendingBytes).
	MaxPendingBytes int
	// MaxPendingMemory bounds the bytes that the units and delete ranges
	// waiting for their dependencies hold in memory (Doc.PendingMemory): an
	// update after which they would hold more, and more than before, is
	// refused. Zero means no bound but MaxPendingBytes.
	MaxPendingMemory int
}

// RootKind is the kind of a root.
type RootKind byte

// Root kinds, as written in the roots table of the encoding.
const (
	KindText RootKind = 1
	KindMap  RootKind = 2
)

// String returns "text" or "map".
func (k RootKind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindMap:
		return "map"
	}
	return "unknown"
}

// RootInfo names a root that exists in a document.
type RootInfo struct {
	Name string
	Kind RootKind
}

// RelPosKind is the kind of a relative position (docs/crdt.md section 1.7).
type RelPosKind byte

// Relative position kinds, as encoded.
const (
	RelBefore RelPosKind = 0 // just before item ID
	RelAfter  RelPosKind = 1 // just after item ID
	RelStart  RelPosKind = 2 // the start of the text
	RelEnd    RelPosKind = 3 // the end of the text
)

// RelPos is a relative position in the Text root named Root: a cursor anchored
// to an item, so that it survives concurrent edits. ID is meaningful only for
// RelBefore and RelAfter.
type RelPos struct {
	Root string
	Kind RelPosKind
	ID   ID
}

// Change is what one Apply changed in one root. For a Text, Edits turn the old
// text into the new one when applied in order, each relative to the text the
// previous one left. For a Map, Keys lists the keys whose value changed, sorted.
type Change struct {
	Root  string
	Kind  RootKind
	Edits []TextEdit
	Keys  []string
	// Formats and Attrs (Text only) are the mark and embed attribute changes,
	// in terms of the text after Edits (docs/crdt.md section 4.5).
	Formats []FormatEdit
	Attrs   []AttrEdit
}

// TextEdit deletes Delete code points at Pos, then inserts Insert at Pos.
type TextEdit struct {
	Pos, Delete int
	Insert      string
}

// ClockRange is the clocks [Start, End) of one client.
type ClockRange struct {
	Client     uint64
	Start, End uint64
}

// UpdateInfo describes an encoded update or snapshot without applying it, so
// that a server can check who authored it and how big it is.
type UpdateInfo struct {
	// Format is the format byte: 0x01 update, 0x02 snapshot (version 1),
	// 0x05 snapshot (version 2), 0x06 snapshot (version 3: rich text).
	Format byte
	// Authors are the clients that have units in the value, ascending.
	Authors []uint64
	// Ranges are the clock ranges of the units, one per block, ascending by
	// client then clock: one per author in what EncodeUpdate and TakeUpdate
	// write; several for a client whose units have gaps (a snapshot's pending
	// units). A snapshot's integrated units of a client are one range from 0.
	Ranges []ClockRange
	// DeleteClients are the clients named by the delete set, ascending.
	DeleteClients []uint64
	// Units is the number of clocks the value covers (text code points, map
	// assignments and skips).
	Units int
	// TextUnits is the number of text code points among Units.
	TextUnits int
	// DeleteRanges is the number of ranges in the delete set.
	DeleteRanges int
	// Roots are the roots the value refers to, sorted by kind then name.
	Roots []RootInfo
}

// Text is a handle on the Text root of a document with a given name. The root
// exists once something has been written to it; a handle on a root that does
// not exist reads as empty.
type Text struct {
	doc  *Doc
	name string
	root *textRoot // cached: valid while gen == doc.gen
	gen  uint64
}

// Map is a handle on the Map root of a document with a given name. The root
// exists once something has been written to it.
type Map struct {
	doc  *Doc
	name string
}
