package main

// A minimal Yjs client for the anchors, so that tandem-bench can drive them with the same Go
// generator that drives tandem (--proto yws or hocus): the anchors' own Node generator spends a core
// at their saturation point, which caps what it can show. It speaks what the anchors' generator
// (shared/anchors/yjs-load/lib.mjs) speaks, from the published wire formats:
//   - y-websocket: [varUint type][payload], the document in the URL path;
//   - Hocuspocus: [varString document][varUint type][payload], an auth message first.
// It types one character at a time at its own cursor, as an update holding one Yjs item (the
// update v1 encoding), decodes only the clock ranges of the updates it receives (what
// Y.parseUpdateMeta returns), and keeps an awareness state renewed every 15 s, echoing remote
// awareness updates as the y-websocket provider does. It never applies remote updates: it is the
// anchors' "peek" observer.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/tandemhq/tandem/cmd/tandem-bench/internal/wsclient"
)

// Message types of the y-websocket protocol and Hocuspocus.
const (
	yMsgSync      = 0
	yMsgAwareness = 1
	yMsgAuth      = 2
	yMsgSyncReply = 4 // Hocuspocus
	ySyncStep1    = 0
	ySyncStep2    = 1
	ySyncUpdate   = 2
	hocusPing     = 9
	hocusPong     = 10
)

// Yjs struct info bits and content references (yjs src/structs/Item.js).
const (
	yBitOrigin      = 0x80
	yBitRightOrigin = 0x40
	yBitParentSub   = 0x20
	yRefGC          = 0
	yRefDeleted     = 1
	yRefJSON        = 2
	yRefBinary      = 3
	yRefString      = 4
	yRefEmbed       = 5
	yRefFormat      = 6
	yRefType        = 7
	yRefSkip        = 10
)

var errYjsMalformed = errors.New("bench: malformed yjs message")

// yDecoder reads lib0 encodings.
type yDecoder struct {
	b   []byte
	err error
}

func (d *yDecoder) uint() uint64 {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		if len(d.b) == 0 {
			d.err = errYjsMalformed
			return 0
		}
		c := d.b[0]
		d.b = d.b[1:]
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	d.err = errYjsMalformed
	return 0
}

func (d *yDecoder) bytes() []byte {
	n := d.uint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errYjsMalformed
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *yDecoder) byte1() byte {
	if len(d.b) == 0 {
		d.err = errYjsMalformed
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// yAppendUint appends a lib0 varUint (unsigned LEB128).
func yAppendUint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func yAppendBytes(b, p []byte) []byte { return append(yAppendUint(b, uint64(len(p))), p...) }

func yAppendString(b []byte, s string) []byte {
	return append(yAppendUint(b, uint64(len(s))), s...)
}

// yjsRanges returns the clock range of each client's structs in a Yjs update (v1), the part of
// Y.parseUpdateMeta the latency measurement needs.
func yjsRanges(update []byte, out []clockRange) ([]clockRange, error) {
	d := &yDecoder{b: update}
	nClients := d.uint()
	for i := uint64(0); i < nClients && d.err == nil; i++ {
		nStructs := d.uint()
		client := d.uint()
		clock := d.uint()
		start := clock
		for s := uint64(0); s < nStructs && d.err == nil; s++ {
			info := d.byte1()
			ref := info & 0x1f
			switch ref {
			case yRefGC, yRefSkip:
				clock += d.uint()
				continue
			}
			if info&yBitOrigin != 0 {
				d.uint()
				d.uint()
			}
			if info&yBitRightOrigin != 0 {
				d.uint()
				d.uint()
			}
			if info&(yBitOrigin|yBitRightOrigin) == 0 {
				if d.uint() == 1 {
					d.bytes() // parent type's key
				} else {
					d.uint() // parent item's ID
					d.uint()
				}
				if info&yBitParentSub != 0 {
					d.bytes()
				}
			}
			switch ref {
			case yRefDeleted:
				clock += d.uint()
			case yRefString:
				clock += utf16Len(d.bytes())
			case yRefJSON:
				n := d.uint()
				for k := uint64(0); k < n && d.err == nil; k++ {
					d.bytes()
				}
				clock += n
			case yRefBinary, yRefEmbed:
				d.bytes()
				clock++
			case yRefFormat:
				d.bytes()
				d.bytes()
				clock++
			case yRefType:
				if t := d.uint(); t == 3 || t == 5 { // XmlElement, XmlHook carry a name
					d.bytes()
				}
				clock++
			default:
				return out, fmt.Errorf("%w: content ref %d", errYjsMalformed, ref)
			}
		}
		if clock < start {
			return out, fmt.Errorf("%w: clock overflow", errYjsMalformed)
		}
		if clock > start {
			out = append(out, clockRange{client: client, start: start, end: clock})
		}
	}
	if d.err != nil {
		return out, d.err
	}
	return out, nil
}

// utf16Len returns the length of UTF-8 text in UTF-16 code units (Yjs counts string clocks so),
// without converting it.
func utf16Len(s []byte) uint64 {
	n := uint64(0)
	for len(s) > 0 {
		if s[0] < utf8.RuneSelf {
			n++
			s = s[1:]
			continue
		}
		r, size := utf8.DecodeRune(s)
		n++
		if r >= 0x10000 {
			n++
		}
		s = s[size:]
	}
	return n
}

// clockRange is the clocks [start, end) of one client in an update.
type clockRange struct{ client, start, end uint64 }

// yjsConn is one Yjs client over one WebSocket.
type yjsConn struct {
	proto string // "yws" or "hocus"
	doc   string
	id    uint64
	ws    *wsclient.Conn
	onRcv func([]clockRange, error)
	msgs  atomic.Int64 // messages received

	mu       sync.Mutex
	clock    uint64 // own next clock
	awClock  uint64
	peers    map[uint64]uint64 // awareness clock per remote client
	err      error
	done     chan struct{}
	synced   chan struct{}
	syncOnce sync.Once
}

// dialYjs connects a Yjs client to the anchor at base (ws://host:port) and returns once the
// server's sync step 2 arrived.
func dialYjs(ctx context.Context, proto, base, doc string, id uint64, onRcv func([]clockRange, error)) (*yjsConn, error) {
	url := base
	if proto == "yws" {
		url = base + "/" + doc
	}
	ws, err := wsclient.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	c := &yjsConn{proto: proto, doc: doc, id: id, ws: ws, onRcv: onRcv, peers: map[uint64]uint64{},
		done: make(chan struct{}), synced: make(chan struct{})}
	if proto == "hocus" {
		m := c.header(yMsgAuth)
		m = yAppendUint(m, 0)
		m = yAppendString(m, "")
		m = yAppendString(m, "4.7.0")
		if err := c.write(m); err != nil {
			ws.Close()
			return nil, err
		}
	}
	// Sync step 1 with an empty state vector (no client), then this client's presence.
	m := yAppendUint(yAppendUint(c.header(yMsgSync), ySyncStep1), 1)
	m = append(m, 0)
	if err := c.write(m); err != nil {
		ws.Close()
		return nil, err
	}
	if err := c.setPresence(); err != nil {
		ws.Close()
		return nil, err
	}
	go c.readLoop()
	select {
	case <-c.synced:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("bench: %s closed before sync: %v", url, c.Err())
	case <-ctx.Done():
		ws.Close()
		<-c.done
		return nil, fmt.Errorf("bench: %s: sync: %w", url, ctx.Err())
	}
}

func (c *yjsConn) header(t uint64) []byte { return c.appendHeader(nil, t) }

// appendHeader appends a message's header: the document name for Hocuspocus, then the type.
func (c *yjsConn) appendHeader(m []byte, t uint64) []byte {
	if c.proto == "hocus" {
		m = yAppendString(m, c.doc)
	}
	return yAppendUint(m, t)
}

func (c *yjsConn) write(m []byte) error { return c.ws.WriteMessage(m) }

// presenceState is the anchors' {user:{name,color}}.
func (c *yjsConn) presenceState() string {
	return `{"user":{"name":"u` + strconv.FormatUint(c.id, 10) + `","color":"#30bced"}}`
}

// setPresence announces (or renews) this client's awareness state with the next clock.
func (c *yjsConn) setPresence() error {
	c.mu.Lock()
	c.awClock++
	clock := c.awClock
	c.mu.Unlock()
	u := yAppendUint(nil, 1)
	u = yAppendUint(u, c.id)
	u = yAppendUint(u, clock)
	u = yAppendString(u, c.presenceState())
	return c.write(yAppendBytes(c.header(yMsgAwareness), u))
}

// typeChar inserts one character after this client's own last one (or at the start of the text
// for its first), as a one-item update.
func (c *yjsConn) typeChar() error {
	c.mu.Lock()
	clock := c.clock
	c.clock++
	c.mu.Unlock()
	return c.ws.WriteBuilt(func(m []byte) []byte {
		m = yAppendUint(c.appendHeader(m, yMsgSync), ySyncUpdate)
		lenAt := len(m)
		m = appendYjsChar(append(m, 0), c.id, clock)
		m[lenAt] = byte(len(m) - lenAt - 1) // under 128: one varint byte (32-bit IDs, clocks)
		return m
	})
}

// appendYjsChar appends yjsCharsUpdate(id, clock, 1) to dst without allocating.
func appendYjsChar(dst []byte, id, clock uint64) []byte {
	dst = append(dst, 1, 1) // one client, one struct
	dst = yAppendUint(dst, id)
	dst = yAppendUint(dst, clock)
	if clock == 0 {
		dst = append(dst, yRefString, 1, 1, 't')
	} else {
		dst = append(dst, yRefString|yBitOrigin)
		dst = yAppendUint(dst, id)
		dst = yAppendUint(dst, clock-1)
	}
	return append(dst, 1, 'x', 0)
}

// yjsCharsUpdate encodes, as a Yjs update (v1), n characters "x" of client id with clocks from
// clock on, each inserted after the previous one, the first after the client's character clock-1
// (or at the start of the root text "t" when clock is 0): what typing at one's own cursor makes.
func yjsCharsUpdate(id, clock, n uint64) []byte {
	u := yAppendUint(nil, 1) // one client
	u = yAppendUint(u, n)    // n structs
	u = yAppendUint(u, id)
	u = yAppendUint(u, clock)
	for k := clock; k < clock+n; k++ {
		if k == 0 {
			u = append(u, yRefString)
			u = yAppendUint(u, 1) // the parent is a root type, named by its key
			u = yAppendString(u, "t")
		} else {
			u = append(u, yRefString|yBitOrigin)
			u = yAppendUint(u, id)
			u = yAppendUint(u, k-1)
		}
		u = yAppendString(u, "x")
	}
	return yAppendUint(u, 0) // empty delete set
}

func (c *yjsConn) nextClock() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clock
}

func (c *yjsConn) readLoop() {
	defer close(c.done)
	var ranges []clockRange
	for {
		data, err := c.ws.ReadMessage()
		c.msgs.Add(1)
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		if c.proto == "hocus" && len(data) == 1 {
			if data[0] == hocusPing {
				_ = c.write([]byte{hocusPong})
			}
			continue
		}
		d := &yDecoder{b: data}
		if c.proto == "hocus" {
			d.bytes()
		}
		switch d.uint() {
		case yMsgSync, yMsgSyncReply:
			switch d.uint() {
			case ySyncStep1: // answer with this client's characters (none before it types)
				d.bytes() // the server's state vector
				m := yAppendUint(c.header(yMsgSync), ySyncStep2)
				_ = c.write(yAppendBytes(m, c.stateSince()))
			case ySyncStep2:
				c.syncOnce.Do(func() { close(c.synced) })
			case ySyncUpdate:
				u := d.bytes()
				if d.err == nil && c.onRcv != nil {
					ranges, err = yjsRanges(u, ranges[:0])
					c.onRcv(ranges, err)
				}
			}
		case yMsgAwareness:
			c.onAwareness(d.bytes())
		}
	}
}

// stateSince encodes this client's own characters as an update (all of them: a server that asks
// after a restart lacks them all). Before any typing it is the empty update.
func (c *yjsConn) stateSince() []byte {
	c.mu.Lock()
	n := c.clock
	c.mu.Unlock()
	if n == 0 {
		return []byte{0, 0}
	}
	return yjsCharsUpdate(c.id, 0, n)
}

// onAwareness tracks remote awareness clocks and, for y-websocket, re-sends the entries that were
// new, as the y-websocket provider (3.1.0) does for every remote update it applies.
func (c *yjsConn) onAwareness(u []byte) {
	d := &yDecoder{b: u}
	n := d.uint()
	var echo []byte
	echoed := uint64(0)
	c.mu.Lock()
	for i := uint64(0); i < n && d.err == nil; i++ {
		id := d.uint()
		clock := d.uint()
		state := d.bytes()
		if d.err != nil || id == c.id {
			continue
		}
		if old, ok := c.peers[id]; ok && clock <= old {
			continue
		}
		c.peers[id] = clock
		echo = yAppendUint(echo, id)
		echo = yAppendUint(echo, clock)
		echo = yAppendBytes(echo, state)
		echoed++
	}
	c.mu.Unlock()
	if c.proto == "yws" && echoed > 0 {
		_ = c.write(yAppendBytes(c.header(yMsgAwareness), append(yAppendUint(nil, echoed), echo...)))
	}
}

func (c *yjsConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *yjsConn) Close() {
	c.ws.Close()
	<-c.done
}
