//go:build !linux

package server

import (
	"syscall"

	"github.com/tandemhq/tandem/server/internal/wsframe"
)

// writeNowAvailable is false where writev on the raw descriptor is not at hand: every frame goes
// through the writer goroutine (conn.drain), with a deadline on every write.
const writeNowAvailable = false

func (p *poller) writeNow(raw syscall.RawConn, bufs [][]byte) (int, error) { return 0, nil }

func (p *poller) writeFrameNow(raw syscall.RawConn, op wsframe.Opcode, data []byte) (n, hdrLen int, err error) {
	return 0, wsframe.HeaderLen(len(data)), nil
}
