package crdt

import "encoding/json"

// Doc is a replica of one document. It is not safe for concurrent use.
type Doc struct {
	client uint64
	cfg    Config
}

// NewDoc returns an empty document that edits under the given client ID.
func NewDoc(client uint64, cfg Config) (*Doc, error) {
	if client == 0 || client > MaxClientID {
		return nil, ErrInvalidClientID
	}
	return &Doc{client: client, cfg: cfg}, nil
}

// ClientID returns the client ID the document edits under.
func (d *Doc) ClientID() uint64 { return d.client }

// Text returns a handle on the Text root named name.
func (d *Doc) Text(name string) *Text { return &Text{doc: d, name: name} }

// Map returns a handle on the Map root named name.
func (d *Doc) Map(name string) *Map { return &Map{doc: d, name: name} }

// Roots returns the roots that exist, sorted by name then kind.
func (d *Doc) Roots() []RootInfo { return nil }

// Insert inserts s at code point position pos.
func (t *Text) Insert(pos int, s string) error { return ErrNotImplemented }

// Delete deletes n code points at position pos.
func (t *Text) Delete(pos, n int) error { return ErrNotImplemented }

// String returns the visible text.
func (t *Text) String() string { return "" }

// Len returns the visible length in code points.
func (t *Text) Len() int { return 0 }

// RelPos returns a relative position for visible index pos.
func (t *Text) RelPos(pos int, assoc int) (RelPos, error) { return RelPos{}, ErrNotImplemented }

// Set assigns value to key.
func (m *Map) Set(key string, value json.RawMessage) error { return ErrNotImplemented }

// Delete removes key.
func (m *Map) Delete(key string) error { return ErrNotImplemented }

// Get returns the value of key.
func (m *Map) Get(key string) (json.RawMessage, bool) { return nil, false }

// Keys returns the keys present, sorted.
func (m *Map) Keys() []string { return nil }

// TakeUpdate returns the local changes since the last call, nil if none.
func (d *Doc) TakeUpdate() []byte { return nil }

// Apply applies an update (0x01) or a snapshot (0x02).
func (d *Doc) Apply(b []byte) ([]Change, error) { return nil, ErrNotImplemented }

// StateVector returns the document's state vector.
func (d *Doc) StateVector() StateVector { return StateVector{} }

// EncodeStateVector encodes sv in the 0x03 format.
func EncodeStateVector(sv StateVector) []byte { return nil }

// DecodeStateVector decodes a 0x03 state vector.
func DecodeStateVector(b []byte) (StateVector, error) { return nil, ErrNotImplemented }

// EncodeUpdate returns an update holding what a peer with state vector since lacks.
func (d *Doc) EncodeUpdate(since StateVector) []byte { return nil }

// EncodeSnapshot returns the whole state as a snapshot.
func (d *Doc) EncodeSnapshot() []byte { return nil }

// PendingBytes returns the encoded size of what waits for its dependencies.
func (d *Doc) PendingBytes() int { return 0 }

// Encode encodes r in the 0x04 format.
func (r RelPos) Encode() []byte { return nil }

// DecodeRelPos decodes a 0x04 relative position.
func DecodeRelPos(b []byte) (RelPos, error) { return RelPos{}, ErrNotImplemented }

// Resolve returns the visible index that r designates.
func (d *Doc) Resolve(r RelPos) (int, error) { return 0, ErrNotImplemented }

// InspectUpdate describes an update or snapshot without applying it.
func InspectUpdate(b []byte) (UpdateInfo, error) { return UpdateInfo{}, ErrNotImplemented }
