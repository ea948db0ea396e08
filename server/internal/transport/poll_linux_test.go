package transport

import "testing"

// TestPollerTable checks the poller's table of connections: slots are reused, keys are not, and
// an event with the key of a connection that has gone (a stale event) finds nobody, even once its
// slot holds another connection.
func TestPollerTable(t *testing.T) {
	p := newPoller()
	h := newTestHub(t, testConfig())
	newConn := func() *Conn {
		c := new(Conn)
		h.Init(c, nil, false)
		return c
	}
	conns := make([]*Conn, 3)
	keys := make([]uint64, 3)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range conns {
		conns[i] = newConn()
		p.put(conns[i])
		keys[i] = conns[i].pollKey
	}
	for i, k := range keys {
		if k == 0 {
			t.Fatalf("connection %d has key 0 (the wake pipe's)", i)
		}
		if got := p.lookup(k); got != conns[i] {
			t.Errorf("lookup(key of connection %d) = %p; want %p", i, got, conns[i])
		}
	}
	p.mu.Unlock()
	p.remove(conns[1])
	p.mu.Lock()
	if got := p.lookup(keys[1]); got != nil {
		t.Errorf("lookup(key of a removed connection) = %p; want nil", got)
	}
	next := newConn()
	p.put(next)
	if uint32(next.pollKey) != uint32(keys[1]) {
		t.Errorf("new connection's slot %d; want the freed one, %d", uint32(next.pollKey)-1, uint32(keys[1])-1)
	}
	if next.pollKey == keys[1] {
		t.Errorf("new connection reuses the key %#x of the one that left", next.pollKey)
	}
	if got := p.lookup(keys[1]); got != nil {
		t.Errorf("stale event: lookup(old key) = %p; want nil", got)
	}
	if got := p.lookup(next.pollKey); got != next {
		t.Errorf("lookup(new key) = %p; want the new connection", got)
	}
	if got := p.lookup(uint64(1)<<32 | 1000); got != nil {
		t.Errorf("lookup(key past the table) = %p; want nil", got)
	}
	p.mu.Unlock()
	for _, c := range []*Conn{conns[0], next, conns[2], conns[2]} { // the last one twice
		p.remove(c)
	}
	p.mu.Lock()
	if p.conns != nil || p.free != nil {
		t.Errorf("table of %d slots, %d free, after every connection left; want none", len(p.conns), len(p.free))
	}
}
