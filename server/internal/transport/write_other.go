//go:build !linux

package transport

import (
	"net"
	"time"

	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// writeNowAvailable is false where writev on the raw descriptor is not at hand: every frame goes
// through the writer goroutine (Conn.drain), with a deadline on every write.
const writeNowAvailable = false

// detachConn keeps the runtime's connection: there is no sockConn here.
func detachConn(nc net.Conn) net.Conn { return nc }

// isDirect is false: no connection is written with writeNow.
func isDirect(net.Conn) bool { return false }

func (p *poller) writeNow(nc net.Conn, bufs [][]byte) (int, error) { return 0, nil }

func (p *poller) writeFrameNow(nc net.Conn, op wsframe.Opcode, data []byte) (n, hdrLen int, err error) {
	return 0, wsframe.HeaderLen(len(data)), nil
}

func (p *poller) writeAll(nc net.Conn, bufs [][]byte, idle time.Duration, limit time.Time) (int, error) {
	return 0, nil
}
