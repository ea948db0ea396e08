//go:build !linux

package transport

import "github.com/tandemhq/tandem/server/internal/wsframe"

// Without epoll, every connection's reader is a goroutine of its own (Conn.serve), with the same
// frame reader and the same readOne as on Linux.

// poller holds the read buffers the readers borrow.
type poller struct {
	bufs *wsframe.BufferPool
}

func newPoller() *poller { return &poller{bufs: wsframe.NewBufferPool(readBufferBytes)} }

// add reports that c cannot be put on a poller: its reader is a goroutine.
func (p *poller) add(c *Conn) bool { return false }

func (p *poller) close() {}

func (c *Conn) dropped() {}
