package protocol_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/protocol"
)

var update = flag.Bool("update", false, "rewrite the golden frames in testdata/protocol")

// goldenPath is the file that the Go and JavaScript tests both read.
var goldenPath = filepath.Join("..", "testdata", "protocol", "frames.json")

// goldenFile is the layout of frames.json. docs/protocol.md describes it for other languages.
type goldenFile struct {
	Comment    string            `json:"comment"`
	Version    int               `json:"version"`
	Varints    []goldenVarint    `json:"varints"`
	BadVarints []goldenBad       `json:"badVarints"`
	CloseCodes []goldenCloseCode `json:"closeCodes"`
	Frames     []goldenFrame     `json:"frames"`
	BadFrames  []goldenBad       `json:"badFrames"`
}

type goldenVarint struct {
	Value uint64 `json:"value"`
	Hex   string `json:"hex"`
}

type goldenCloseCode struct {
	Code     uint16 `json:"code"`
	Name     string `json:"name"`
	Terminal bool   `json:"terminal"`
}

type goldenFrame struct {
	Name    string          `json:"name"`
	From    string          `json:"from"`
	Type    string          `json:"type"`
	Channel uint64          `json:"channel"`
	Fields  json.RawMessage `json:"fields"`
	Hex     string          `json:"hex"`
}

type goldenBad struct {
	Name  string `json:"name"`
	From  string `json:"from,omitempty"`
	Hex   string `json:"hex"`
	Error string `json:"error"`
}

// errorKinds names the sentinel errors in frames.json; the JavaScript twin's DecodeError.kind
// takes the same names.
func errorKinds() map[string]error {
	return map[string]error{
		"truncated":           protocol.ErrTruncated,
		"unknown-type":        protocol.ErrUnknownType,
		"unexpected-type":     protocol.ErrUnexpectedType,
		"trailing-bytes":      protocol.ErrTrailingBytes,
		"varint-overflow":     protocol.ErrVarintOverflow,
		"overlong-varint":     protocol.ErrOverlongVarint,
		"invalid-utf8":        protocol.ErrInvalidUTF8,
		"invalid-client-id":   protocol.ErrInvalidClientID,
		"invalid-version":     protocol.ErrInvalidVersion,
		"unsupported-version": protocol.ErrUnsupportedVersion,
		"reserved-flags":      protocol.ErrReservedFlags,
		"invalid-close-code":  protocol.ErrInvalidCloseCode,
	}
}

// errorKind returns the name of the sentinel that err wraps, or err's text if none.
func errorKind(err error) string {
	for kind, sentinel := range errorKinds() {
		if errors.Is(err, sentinel) {
			return kind
		}
	}
	return fmt.Sprintf("unnamed error %q", err)
}

// hexBytes is a byte string written in JSON as lowercase hex; "" reads back as nil, as an empty
// field decodes.
type hexBytes []byte

func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	if len(d) == 0 {
		d = nil
	}
	*h = d
	return nil
}

// The fields of each message as frames.json writes them: the JavaScript message objects' names.
type (
	helloFields struct {
		Version     uint64   `json:"version"`
		ClientID    uint64   `json:"clientId"`
		StateVector hexBytes `json:"stateVector"`
		Flags       uint64   `json:"flags"`
	}
	syncFields struct {
		Update      hexBytes `json:"update"`
		StateVector hexBytes `json:"stateVector"`
	}
	updateFields struct {
		Data hexBytes `json:"data"`
	}
	ackFields struct {
		Seq uint64 `json:"seq"`
	}
	awarenessFields struct {
		Clock uint64   `json:"clock"`
		State hexBytes `json:"state"`
	}
	awarenessEntryFields struct {
		ClientID uint64   `json:"clientId"`
		Clock    uint64   `json:"clock"`
		State    hexBytes `json:"state"`
	}
	peerAwarenessFields struct {
		Entries []awarenessEntryFields `json:"entries"`
	}
	errorFields struct {
		Code    uint64 `json:"code"`
		Message string `json:"message"`
	}
	broadcastFields struct {
		Payload hexBytes `json:"payload"`
	}
	peerBroadcastFields struct {
		ClientID uint64   `json:"clientId"`
		Payload  hexBytes `json:"payload"`
	}
	nonceFields struct {
		Nonce uint64 `json:"nonce"`
	}
	authFields struct {
		Token string `json:"token"`
	}
)

// toFields returns m's fields in their frames.json form.
func toFields(m protocol.Message) any {
	switch m := m.(type) {
	case *protocol.Hello:
		return helloFields{m.Version, m.ClientID, m.StateVector, m.Flags}
	case *protocol.Sync:
		return syncFields{m.Update, m.StateVector}
	case *protocol.Update:
		return updateFields{m.Data}
	case *protocol.Ack:
		return ackFields{m.Seq}
	case *protocol.Awareness:
		return awarenessFields{m.Clock, m.State}
	case *protocol.PeerAwareness:
		f := peerAwarenessFields{Entries: []awarenessEntryFields{}}
		for _, e := range m.Entries {
			f.Entries = append(f.Entries, awarenessEntryFields{e.ClientID, e.Clock, e.State})
		}
		return f
	case *protocol.Error:
		return errorFields{uint64(m.Code), m.Message}
	case *protocol.Broadcast:
		return broadcastFields{m.Payload}
	case *protocol.PeerBroadcast:
		return peerBroadcastFields{m.ClientID, m.Payload}
	case *protocol.Ping:
		return nonceFields{m.Nonce}
	case *protocol.Pong:
		return nonceFields{m.Nonce}
	case *protocol.Auth:
		return authFields{m.Token}
	}
	panic(fmt.Sprintf("toFields: unhandled message %T", m))
}

// fromFields builds the message that frames.json describes by its type, direction and fields.
func fromFields(typ string, from protocol.Direction, raw json.RawMessage) (protocol.Message, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	switch {
	case typ == "hello":
		var f helloFields
		err := dec.Decode(&f)
		return &protocol.Hello{Version: f.Version, ClientID: f.ClientID, StateVector: f.StateVector, Flags: f.Flags}, err
	case typ == "sync":
		var f syncFields
		err := dec.Decode(&f)
		return &protocol.Sync{Update: f.Update, StateVector: f.StateVector}, err
	case typ == "update":
		var f updateFields
		err := dec.Decode(&f)
		return &protocol.Update{Data: f.Data}, err
	case typ == "ack":
		var f ackFields
		err := dec.Decode(&f)
		return &protocol.Ack{Seq: f.Seq}, err
	case typ == "awareness" && from == protocol.FromClient:
		var f awarenessFields
		err := dec.Decode(&f)
		return &protocol.Awareness{Clock: f.Clock, State: f.State}, err
	case typ == "awareness":
		var f peerAwarenessFields
		err := dec.Decode(&f)
		m := &protocol.PeerAwareness{}
		for _, e := range f.Entries {
			m.Entries = append(m.Entries, protocol.AwarenessEntry{ClientID: e.ClientID, Clock: e.Clock, State: e.State})
		}
		return m, err
	case typ == "error":
		var f errorFields
		err := dec.Decode(&f)
		return &protocol.Error{Code: protocol.CloseCode(f.Code), Message: f.Message}, err
	case typ == "broadcast" && from == protocol.FromClient:
		var f broadcastFields
		err := dec.Decode(&f)
		return &protocol.Broadcast{Payload: f.Payload}, err
	case typ == "broadcast":
		var f peerBroadcastFields
		err := dec.Decode(&f)
		return &protocol.PeerBroadcast{ClientID: f.ClientID, Payload: f.Payload}, err
	case typ == "ping":
		var f nonceFields
		err := dec.Decode(&f)
		return &protocol.Ping{Nonce: f.Nonce}, err
	case typ == "pong":
		var f nonceFields
		err := dec.Decode(&f)
		return &protocol.Pong{Nonce: f.Nonce}, err
	case typ == "auth":
		var f authFields
		err := dec.Decode(&f)
		return &protocol.Auth{Token: f.Token}, err
	}
	return nil, fmt.Errorf("unknown type %q", typ)
}

func parseDirection(s string) (protocol.Direction, error) {
	switch s {
	case "client":
		return protocol.FromClient, nil
	case "server":
		return protocol.FromServer, nil
	}
	return 0, fmt.Errorf("unknown direction %q", s)
}

// buildGolden returns frames.json's content from the tables in this package's tests.
func buildGolden(t *testing.T) goldenFile {
	t.Helper()
	g := goldenFile{
		Comment: "Golden vectors of the tandem wire protocol (docs/protocol.md), checked by protocol/golden_test.go " +
			"and client-js/src/protocol.test.js. Rewrite with: go test ./protocol -update. Byte strings are hex.",
		Version: protocol.Version,
	}
	for _, c := range varintCases {
		g.Varints = append(g.Varints, goldenVarint{c.value, c.hex})
	}
	for _, c := range badVarintCases {
		g.BadVarints = append(g.BadVarints, goldenBad{Name: c.name, Hex: c.hex, Error: errorKind(c.err)})
	}
	for _, c := range closeCodeCases {
		g.CloseCodes = append(g.CloseCodes, goldenCloseCode{uint16(c.code), c.name, c.terminal})
	}
	for _, c := range frameCases() {
		fields, err := marshalCompact(toFields(c.frame.Message))
		if err != nil {
			t.Fatalf("marshal %s: %v", c.name, err)
		}
		g.Frames = append(g.Frames, goldenFrame{
			Name:    c.name,
			From:    c.from.String(),
			Type:    c.frame.Message.Type().String(),
			Channel: c.frame.Channel,
			Fields:  fields,
			Hex:     hex.EncodeToString(protocol.EncodeFrame(c.frame.Channel, c.frame.Message)),
		})
	}
	for _, c := range badFrameCases {
		g.BadFrames = append(g.BadFrames, goldenBad{Name: c.name, From: c.from.String(), Hex: c.hex, Error: errorKind(c.err)})
	}
	return g
}

func marshalCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// writeGolden renders g with one entry a line, so that a diff shows which vector changed.
func writeGolden(g goldenFile) ([]byte, error) {
	var buf bytes.Buffer
	head, err := marshalCompact(g.Comment)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&buf, "{\n  \"comment\": %s,\n  \"version\": %d", head, g.Version)
	section := func(name string, n int, entry func(i int) any) error {
		fmt.Fprintf(&buf, ",\n  %q: [", name)
		for i := 0; i < n; i++ {
			b, err := marshalCompact(entry(i))
			if err != nil {
				return err
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString("\n    ")
			buf.Write(b)
		}
		buf.WriteString("\n  ]")
		return nil
	}
	for _, s := range []struct {
		name  string
		n     int
		entry func(i int) any
	}{
		{"varints", len(g.Varints), func(i int) any { return g.Varints[i] }},
		{"badVarints", len(g.BadVarints), func(i int) any { return g.BadVarints[i] }},
		{"closeCodes", len(g.CloseCodes), func(i int) any { return g.CloseCodes[i] }},
		{"frames", len(g.Frames), func(i int) any { return g.Frames[i] }},
		{"badFrames", len(g.BadFrames), func(i int) any { return g.BadFrames[i] }},
	} {
		if err := section(s.name, s.n, s.entry); err != nil {
			return nil, err
		}
	}
	buf.WriteString("\n}\n")
	return buf.Bytes(), nil
}

// TestGoldenFile checks that frames.json is what this package's tables produce; -update rewrites it.
func TestGoldenFile(t *testing.T) {
	want, err := writeGolden(buildGolden(t))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", goldenPath)
		return
	}
	got, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run go test ./protocol -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gotLines) || i < len(wantLines); i++ {
			var g, w string
			if i < len(gotLines) {
				g = gotLines[i]
			}
			if i < len(wantLines) {
				w = wantLines[i]
			}
			if g != w {
				t.Fatalf("%s line %d = %s; want %s (run go test ./protocol -update and review the diff)", goldenPath, i+1, g, w)
			}
		}
	}
}

func readGolden(t *testing.T) goldenFile {
	t.Helper()
	b, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		t.Fatalf("%s: %v", goldenPath, err)
	}
	return g
}

// TestGoldenVectors reads frames.json as another implementation would, and checks every vector
// against this package: the JavaScript test runs the same checks.
func TestGoldenVectors(t *testing.T) {
	g := readGolden(t)
	if g.Version != protocol.Version {
		t.Errorf("version = %d; want %d", g.Version, protocol.Version)
	}
	for _, v := range g.Varints {
		if got := hex.EncodeToString(protocol.AppendUvarint(nil, v.Value)); got != v.Hex {
			t.Errorf("AppendUvarint(%d) = %s; want %s", v.Value, got, v.Hex)
		}
		b, _ := hex.DecodeString(v.Hex)
		if got, n, err := protocol.Uvarint(b); got != v.Value || n != len(b) || err != nil {
			t.Errorf("Uvarint(%s) = %d, %d, %v; want %d, %d, nil", v.Hex, got, n, err, v.Value, len(b))
		}
	}
	kinds := errorKinds()
	for _, v := range g.BadVarints {
		b, _ := hex.DecodeString(v.Hex)
		if _, _, err := protocol.Uvarint(b); !errors.Is(err, kinds[v.Error]) || kinds[v.Error] == nil {
			t.Errorf("%s: Uvarint(%s) error = %v; want %s", v.Name, v.Hex, err, v.Error)
		}
	}
	for _, c := range g.CloseCodes {
		code := protocol.CloseCode(c.Code)
		if code.Name() != c.Name || code.Terminal() != c.Terminal {
			t.Errorf("CloseCode(%d) name, terminal = %q, %v; want %q, %v", c.Code, code.Name(), code.Terminal(), c.Name, c.Terminal)
		}
	}
	for _, v := range g.Frames {
		from, err := parseDirection(v.From)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		m, err := fromFields(v.Type, from, v.Fields)
		if err != nil {
			t.Fatalf("%s: fields: %v", v.Name, err)
		}
		want := protocol.Frame{Channel: v.Channel, Message: m}
		if got := hex.EncodeToString(protocol.EncodeFrame(v.Channel, m)); got != v.Hex {
			t.Errorf("%s: EncodeFrame = %s; want %s", v.Name, got, v.Hex)
		}
		b, _ := hex.DecodeString(v.Hex)
		got, err := protocol.DecodeFrame(b, from)
		if err != nil {
			t.Errorf("%s: DecodeFrame(%s) error: %v", v.Name, v.Hex, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: DecodeFrame(%s) = %s; want %s", v.Name, v.Hex, frameString(got), frameString(want))
		}
	}
	for _, v := range g.BadFrames {
		from, err := parseDirection(v.From)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		b, _ := hex.DecodeString(v.Hex)
		f, err := protocol.DecodeFrame(b, from)
		if kinds[v.Error] == nil || !errors.Is(err, kinds[v.Error]) {
			t.Errorf("%s: DecodeFrame(%s) = %s, %v; want error %s", v.Name, v.Hex, frameString(f), err, v.Error)
		}
	}
}

// frameString formats a frame for test messages, showing what the pointers point to.
func frameString(f protocol.Frame) string {
	if f.Message == nil {
		return fmt.Sprintf("{channel %d, nil}", f.Channel)
	}
	return fmt.Sprintf("{channel %d, %s %+v}", f.Channel, f.Message.Type(), f.Message)
}
