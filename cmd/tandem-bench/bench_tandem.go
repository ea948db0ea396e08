package main

// tandemPeek: the latency generator's observer on tandem's protocol (the default, peek mode), the
// counterpart of the Yjs clients in bench_yjs.go. It speaks the protocol directly over the lean
// WebSocket of package wsclient instead of going through package client, because an observer needs
// none of what a replica does:
//   - a keystroke is encoded straight into the frame by appendTandemKeystroke, the bytes that
//     crdt.Doc's TakeUpdate makes for one character typed after the client's own last one (the
//     test checks byte for byte);
//   - a received update is read only as far as the clock range of each block (tandemRanges: the
//     op IDs the latency lookup needs; what crdt.InspectUpdate returns as Ranges, without
//     allocating), never applied;
//   - acks are read as far as their count (for the ack latency); awareness and broadcasts are
//     counted, not decoded.
// With --apply, the generator uses package client instead (every update applied, as an editor).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/cmd/tandem-bench/internal/wsclient"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
)

// tandemPeek is one observing typist on tandem's protocol.
type tandemPeek struct {
	ws    *wsclient.Conn
	id    uint64
	onRcv func([]clockRange, error)
	onAck func(seq uint64) // nil: acks are only counted
	msgs  atomic.Int64

	clock   atomic.Uint64 // own next clock (written by the typing goroutine)
	awClock atomic.Uint64

	done    chan struct{}
	errMu   sync.Mutex
	err     error
	lastErr *protocol.Error // the server's error frame, read by the reader goroutine only
}

// dialTandemPeek connects to document doc on the tandem server at base (ws://host:port) and
// returns once the sync answer arrived. The document must be new to the client (the bench's
// documents are fresh): its first keystroke has no origin. onAck (may be nil) gets the count of the
// client's updates that the server reports durable, from each ack.
func dialTandemPeek(ctx context.Context, base, doc string, id uint64, onRcv func([]clockRange, error), onAck func(uint64)) (*tandemPeek, error) {
	u := strings.TrimSuffix(base, "/") + "/v1/docs/" + url.PathEscape(doc) + "/ws"
	ws, err := wsclient.Dial(ctx, u)
	if err != nil {
		return nil, err
	}
	t := &tandemPeek{ws: ws, id: id, onRcv: onRcv, onAck: onAck, done: make(chan struct{})}
	fail := func(err error) (*tandemPeek, error) {
		ws.Close()
		return nil, err
	}
	hello := protocol.EncodeFrame(0, &protocol.Hello{Version: protocol.Version, ClientID: id, StateVector: crdt.EncodeStateVector(nil)})
	if err := ws.WriteMessage(hello); err != nil {
		return fail(err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.NetConn().SetReadDeadline(dl)
	}
	for {
		m, err := ws.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("bench: %s: sync: %w", u, ctx.Err())
			}
			return fail(t.closeError(err))
		}
		f, err := protocol.DecodeFrame(m, protocol.FromServer)
		if err != nil {
			return fail(fmt.Errorf("bench: %s: %w", u, err))
		}
		switch msg := f.Message.(type) {
		case *protocol.Sync:
			_ = ws.NetConn().SetReadDeadline(time.Time{})
			go t.readLoop()
			return t, nil
		case *protocol.Error:
			t.lastErr = &protocol.Error{Code: msg.Code, Message: msg.Message}
		case *protocol.Ping:
			if err := ws.WriteMessage(protocol.EncodeFrame(0, &protocol.Pong{Nonce: msg.Nonce})); err != nil {
				return fail(err)
			}
		}
	}
}

// readLoop reads until the connection ends. Updates are decoded only as far as their clock
// ranges; everything else is counted.
func (t *tandemPeek) readLoop() {
	defer close(t.done)
	var ranges []clockRange
	for {
		m, err := t.ws.ReadMessage()
		if err != nil {
			t.errMu.Lock()
			t.err = t.closeError(err)
			t.errMu.Unlock()
			return
		}
		t.msgs.Add(1)
		if len(m) < 2 || m[1] != 0 { // type, channel 0
			continue
		}
		switch protocol.Type(m[0]) {
		case protocol.TypeUpdate:
			if t.onRcv == nil {
				continue
			}
			d := yDecoder{b: m[2:]}
			u := d.bytes()
			if d.err != nil || len(d.b) != 0 {
				t.onRcv(nil, fmt.Errorf("%w: update frame", errTandemMalformed))
				continue
			}
			ranges, err = tandemRanges(u, ranges[:0])
			t.onRcv(ranges, err)
		case protocol.TypeAck:
			if t.onAck == nil {
				continue
			}
			if seq, n := binary.Uvarint(m[2:]); n > 0 {
				t.onAck(seq)
			}
		case protocol.TypePing, protocol.TypeError:
			f, err := protocol.DecodeFrame(m, protocol.FromServer)
			if err != nil {
				continue
			}
			switch msg := f.Message.(type) {
			case *protocol.Ping:
				_ = t.ws.WriteMessage(protocol.EncodeFrame(0, &protocol.Pong{Nonce: msg.Nonce}))
			case *protocol.Error:
				t.lastErr = &protocol.Error{Code: msg.Code, Message: msg.Message}
			}
		}
	}
}

// closeError gives a close the server's error message, as package client does.
func (t *tandemPeek) closeError(err error) error {
	var ce *client.CloseError
	if t.lastErr != nil && errors.As(err, &ce) {
		out := &client.CloseError{Code: ce.Code, Message: t.lastErr.Message}
		if ce.Code == 1005 || ce.Code == client.CloseAbnormal {
			out.Code = t.lastErr.Code
		}
		return out
	}
	return err
}

func (t *tandemPeek) clientID() uint64       { return t.id }
func (t *tandemPeek) nextClock() uint64      { return t.clock.Load() }
func (t *tandemPeek) ended() <-chan struct{} { return t.done }
func (t *tandemPeek) received() int64        { return t.msgs.Load() }

func (t *tandemPeek) why() error {
	t.errMu.Lock()
	defer t.errMu.Unlock()
	return t.err
}

func (t *tandemPeek) close() {
	t.ws.Close()
	<-t.done
}

// typeChar sends one character after the client's own last one.
func (t *tandemPeek) typeChar() error {
	k := t.clock.Add(1) - 1
	return t.ws.WriteBuilt(func(b []byte) []byte { return appendTandemKeystroke(b, t.id, k) })
}

// renewPresence announces the presence state with the next awareness clock.
func (t *tandemPeek) renewPresence() error {
	c := t.awClock.Add(1)
	return t.ws.WriteMessage(protocol.EncodeFrame(0, &protocol.Awareness{Clock: c, State: presence(t.id)}))
}

var errTandemMalformed = errors.New("bench: malformed tandem update")

// appendTandemKeystroke appends the update frame (channel 0) of one character "x" typed by client
// id with clock k, after its character k-1 (none for k = 0), at the end of its replica, into the
// Text root benchRoot: the update (docs/crdt.md, 2.3) is
//
//	01 | clients: 1, id | roots: 1, (Text, benchRoot) | blocks: 1, (ci 0, clock k, 1 op) |
//	op: text run, left origin (0, k-1) if k > 0, root 0, length 1, "x" | delete set: 0
func appendTandemKeystroke(dst []byte, id, k uint64) []byte {
	dst = append(dst, byte(protocol.TypeUpdate), 0)
	lenAt := len(dst)
	dst = append(dst, 0, 0x01, 1)
	dst = binary.AppendUvarint(dst, id)
	dst = append(dst, 1, byte(crdt.KindText), byte(len(benchRoot)))
	dst = append(dst, benchRoot...)
	dst = append(dst, 1, 0)
	dst = binary.AppendUvarint(dst, k)
	dst = append(dst, 1)
	if k == 0 {
		dst = append(dst, 0x00, 0)
	} else {
		dst = append(dst, 0x08, 0, 0)
		dst = binary.AppendUvarint(dst, k-1)
	}
	dst = append(dst, 1, 1, 'x', 0)
	dst[lenAt] = byte(len(dst) - lenAt - 1) // under 128: one varint byte (at most 8-byte IDs and clocks)
	return dst
}

// tandemRanges appends to out the clock range [start, end) of each block of a tandem update
// (format 0x01, docs/crdt.md 2.3): the IDs of the units it carries, as crdt.InspectUpdate's Ranges.
// It reads the tables and ops only as far as their lengths; the delete set is not read.
func tandemRanges(u []byte, out []clockRange) ([]clockRange, error) {
	if len(u) == 0 || u[0] != 0x01 {
		return out, fmt.Errorf("%w: not an update", errTandemMalformed)
	}
	d := yDecoder{b: u[1:]} // LEB128 varints and length-prefixed strings: lib0's encoding too
	var small [8]uint64
	clients := small[:0]
	n := d.uint()
	if n > uint64(len(d.b)) {
		return out, fmt.Errorf("%w: client table", errTandemMalformed)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		clients = append(clients, d.uint())
	}
	nRoots := d.uint()
	for i := uint64(0); i < nRoots && d.err == nil; i++ {
		d.byte1()
		d.bytes()
	}
	nBlocks := d.uint()
	for b := uint64(0); b < nBlocks && d.err == nil; b++ {
		ci, start, nOps := d.uint(), d.uint(), d.uint()
		if d.err != nil || ci >= uint64(len(clients)) || nOps == 0 {
			return out, fmt.Errorf("%w: block", errTandemMalformed)
		}
		end := start
		for o := uint64(0); o < nOps && d.err == nil; o++ {
			tag := d.byte1()
			switch tag & 7 {
			case 0: // text run
				d.uint()
				if tag&0x08 != 0 {
					d.uint()
					d.uint()
				}
				if tag&0x10 != 0 {
					d.uint()
					d.uint()
				}
				end += d.uint()
				if tag&0x20 == 0 {
					d.bytes()
				}
			case 1: // map assignment
				d.uint()
				d.bytes()
				d.uint()
				if tag&0x08 == 0 {
					d.bytes()
				}
				end++
			case 2: // skip
				end += d.uint()
			default:
				return out, fmt.Errorf("%w: op kind %d", errTandemMalformed, tag&7)
			}
		}
		if d.err != nil || end < start {
			return out, fmt.Errorf("%w: ops", errTandemMalformed)
		}
		out = append(out, clockRange{client: clients[ci], start: start, end: end})
	}
	if d.err != nil {
		return out, fmt.Errorf("%w: truncated", errTandemMalformed)
	}
	return out, nil
}
