package server

// The cases of the RFC 6455 conformance tests (rfc6455_test.go): the Autobahn cases of
// reliability.md section 1.4, each run against the echo target, the real endpoint, or both.

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/rawws"
)

var hello = []byte("Hello, world!")

func wsCases() []wsCase {
	return []wsCase{
		{id: "1.2.1", title: "binary message, payload 0", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpBinary, nil))
			if tg.real { // no type byte: a malformed protocol message
				expectClose(t, tg, c, uint16(protocol.CloseBadMessage))
				return
			}
			expectFrame(t, c, rawws.OpBinary, []byte{}, 2*time.Second)
			closeNormally(t, tg, c)
		}},
		{id: "1.2.2", title: "binary, payload 125", echo: true, run: binaryEcho(125)},
		{id: "1.2.3", title: "binary, payload 126 (16-bit length)", echo: true, run: binaryEcho(126)},
		{id: "1.2.4", title: "binary, payload 127", echo: true, run: binaryEcho(127)},
		{id: "1.2.6", title: "binary, payload 65535", echo: true, run: binaryEcho(65535)},
		{id: "1.2.7", title: "binary, payload 65536 (64-bit length)", echo: true, run: binaryEcho(65536)},
		{id: "1.2.8", title: "binary 65536 in 997-octet chops", echo: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			p := rep(0xfe, 65536)
			if err := c.WriteChopped(fr(true, 0, rawws.OpBinary, p), 997, 0); err != nil {
				t.Fatal(err)
			}
			expectFrame(t, c, rawws.OpBinary, p, 2*time.Second)
			closeNormally(t, tg, c)
		}},
		{id: "1.1.1", title: "text message, payload 0", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpText, nil))
			if tg.real {
				expectClose(t, tg, c, websocket.CloseUnsupportedData)
				return
			}
			expectFrame(t, c, rawws.OpText, []byte{}, 2*time.Second)
			closeNormally(t, tg, c)
		}},
		{id: "2.1", title: "ping without payload", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpPing, nil))
			expectFrame(t, c, rawws.OpPong, []byte{}, time.Second)
			closeNormally(t, tg, c)
		}},
		{id: "2.4", title: "ping, 125-byte binary payload", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			p := rep(0xfe, 125)
			send(t, c, fr(true, 0, rawws.OpPing, p))
			expectFrame(t, c, rawws.OpPong, p, time.Second)
			closeNormally(t, tg, c)
		}},
		{id: "2.5", title: "ping, 126-byte payload", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpPing, rep('*', 126)))
			expectFail(t, tg, c)
		}},
		{id: "2.6", title: "ping 125 bytes, octet-wise chops", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			p := rep('*', 125)
			if err := c.WriteChopped(fr(true, 0, rawws.OpPing, p), 1, time.Millisecond); err != nil {
				t.Fatal(err)
			}
			expectFrame(t, c, rawws.OpPong, p, time.Second)
			closeNormally(t, tg, c)
		}},
		{id: "2.7", title: "unsolicited pong", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpPong, []byte("unsolicited")))
			expectSilence(t, c, 300*time.Millisecond)
			send(t, c, fr(true, 0, rawws.OpPing, []byte("alive?")))
			expectFrame(t, c, rawws.OpPong, []byte("alive?"), time.Second)
			closeNormally(t, tg, c)
		}},
		{id: "2.10", title: "10 pings with payload", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			for i := 0; i < 10; i++ {
				send(t, c, fr(true, 0, rawws.OpPing, []byte{'p', byte('0' + i)}))
			}
			for i := 0; i < 10; i++ {
				expectFrame(t, c, rawws.OpPong, []byte{'p', byte('0' + i)}, time.Second)
			}
			closeNormally(t, tg, c)
		}},
		{id: "3.1", title: "small message with RSV=1", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 1, rawws.OpBinary, hello))
			expectFail(t, tg, c)
		}},
		{id: "3.2", title: "message, then RSV=2, then ping", echo: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpBinary, hello), fr(true, 2, rawws.OpBinary, hello), fr(true, 0, rawws.OpPing, nil))
			expectFrame(t, c, rawws.OpBinary, hello, time.Second)
			expectFail(t, tg, c)
		}},
		{id: "3.6", title: "ping with RSV=6", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 6, rawws.OpPing, hello))
			expectFail(t, tg, c)
		}},
		{id: "3.7", title: "close with RSV=7", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 7, rawws.OpClose, rawws.ClosePayload(1000, "")))
			expectFail(t, tg, c)
		}},
		{id: "4.1.1", title: "reserved non-control opcode 3", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, 3, nil))
			expectFail(t, tg, c)
		}},
		{id: "4.1.3", title: "message, opcode 5, ping", echo: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpBinary, hello), fr(true, 0, 5, hello), fr(true, 0, rawws.OpPing, nil))
			expectFrame(t, c, rawws.OpBinary, hello, time.Second)
			expectFail(t, tg, c)
		}},
		{id: "4.2.1", title: "reserved control opcode 11", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, 11, nil))
			expectFail(t, tg, c)
		}},
		{id: "4.2.3", title: "message, opcode 13, ping", echo: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpBinary, hello), fr(true, 0, 13, hello), fr(true, 0, rawws.OpPing, nil))
			expectFrame(t, c, rawws.OpBinary, hello, time.Second)
			expectFail(t, tg, c)
		}},
		{id: "5.1", title: "ping fragmented into 2", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(false, 0, rawws.OpPing, []byte("frag1")), fr(true, 0, rawws.OpContinuation, []byte("frag2")))
			expectFail(t, tg, c)
		}},
		{id: "5.2", title: "pong fragmented into 2", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(false, 0, rawws.OpPong, []byte("frag1")), fr(true, 0, rawws.OpContinuation, []byte("frag2")))
			expectFail(t, tg, c)
		}},
		{id: "5.3", title: "message in 2 fragments", echo: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(false, 0, rawws.OpBinary, []byte("frag1")), fr(true, 0, rawws.OpContinuation, []byte("frag2")))
			expectFrame(t, c, rawws.OpBinary, []byte("frag1frag2"), time.Second)
			closeNormally(t, tg, c)
		}},
		{id: "5.6", title: "2 fragments, ping in between", echo: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(false, 0, rawws.OpText, []byte("frag1")), fr(true, 0, rawws.OpPing, []byte("ping")), fr(true, 0, rawws.OpContinuation, []byte("frag2")))
			expectFrame(t, c, rawws.OpPong, []byte("ping"), time.Second)
			expectFrame(t, c, rawws.OpText, []byte("frag1frag2"), time.Second)
			closeNormally(t, tg, c)
		}},
		{id: "5.9", title: "continuation (FIN) with nothing to continue", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpContinuation, []byte("non-continuation payload")))
			expectFail(t, tg, c)
		}},
		{id: "5.12", title: "continuation (no FIN) with nothing to continue", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(false, 0, rawws.OpContinuation, []byte("non-continuation payload")))
			expectFail(t, tg, c)
		}},
		{id: "5.18", title: "2 fragments, both with a data opcode", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(false, 0, rawws.OpBinary, []byte("frag1")), fr(true, 0, rawws.OpBinary, []byte("frag2")))
			expectFail(t, tg, c)
		}},
		{id: "5.19", title: "fragmented message, pings and 1 s pauses between fragments", echo: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(false, 0, rawws.OpText, []byte("f1")), fr(false, 0, rawws.OpContinuation, []byte("f2")), fr(true, 0, rawws.OpPing, []byte("p1")))
			expectFrame(t, c, rawws.OpPong, []byte("p1"), 100*time.Millisecond)
			time.Sleep(time.Second)
			send(t, c, fr(false, 0, rawws.OpContinuation, []byte("f3")), fr(false, 0, rawws.OpContinuation, []byte("f4")), fr(true, 0, rawws.OpPing, []byte("p2")))
			expectFrame(t, c, rawws.OpPong, []byte("p2"), 100*time.Millisecond)
			time.Sleep(time.Second)
			send(t, c, fr(true, 0, rawws.OpContinuation, []byte("f5")))
			expectFrame(t, c, rawws.OpText, []byte("f1f2f3f4f5"), time.Second)
			closeNormally(t, tg, c)
		}},
		{id: "6.3.1", title: "invalid UTF-8 text, unfragmented", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpText, []byte{0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64}))
			if tg.real {
				expectClose(t, tg, c, websocket.CloseUnsupportedData)
				return
			}
			expectClose(t, tg, c, websocket.CloseInvalidFramePayloadData)
		}},
		{id: "6.4.1", title: "invalid UTF-8 in the 2nd of 3 fragments", echo: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(false, 0, rawws.OpText, []byte("κόσμε")), fr(false, 0, rawws.OpContinuation, []byte{0xf4, 0x90, 0x80, 0x80}))
			// The third fragment would come 2 s later: the close must come well before.
			expectClose(t, tg, c, websocket.CloseInvalidFramePayloadData)
		}},
		{id: "7.1.1", title: "message, then close", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			if !tg.real {
				send(t, c, fr(true, 0, rawws.OpBinary, hello))
				expectFrame(t, c, rawws.OpBinary, hello, time.Second)
			}
			closeNormally(t, tg, c)
		}},
		{id: "7.1.2+7.1.3", title: "ping after close; second close frame", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			// One write: the server may drop the socket once it has answered the close, and a later
			// write of ours would then fail with EPIPE.
			send(t, c, cat(fr(true, 0, rawws.OpClose, rawws.ClosePayload(1000, "")), fr(true, 0, rawws.OpPing, hello), fr(true, 0, rawws.OpClose, rawws.ClosePayload(1000, ""))))
			expectClose(t, tg, c, 1000) // and no pong before it
		}},
		{id: "7.1.5", title: "fragment 1, close, fragment 2", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, cat(fr(false, 0, rawws.OpBinary, []byte("fragment1")), fr(true, 0, rawws.OpClose, rawws.ClosePayload(1000, "")), fr(true, 0, rawws.OpContinuation, []byte("fragment2"))))
			expectClose(t, tg, c, 1000)
		}},
		{id: "7.3.1", title: "close with payload 0", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpClose, nil))
			o := expectClose(t, tg, c)
			if o.HasCode && o.Code != 1000 {
				t.Errorf("close %d; want no code or 1000", o.Code)
			}
		}},
		{id: "7.3.2", title: "close with payload 1", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpClose, []byte{0x03}))
			// RFC 6455 5.5.1 makes a 1-byte close payload malformed: a protocol error.
			expectFail(t, tg, c)
		}},
		{id: "7.3.5", title: "close with a 123-byte reason", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpClose, rawws.ClosePayload(1000, strings.Repeat("*", 123))))
			expectClose(t, tg, c, 1000)
		}},
		{id: "7.3.6", title: "close with a 124-byte reason", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpClose, rawws.ClosePayload(1000, strings.Repeat("*", 124))))
			expectFail(t, tg, c)
		}},
		{id: "7.5.1", title: "close with an invalid UTF-8 reason", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(true, 0, rawws.OpClose, append(rawws.ClosePayload(1000, ""), 0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64)))
			expectFail(t, tg, c)
		}},
		{id: "12.1.1+13.1.1", title: "permessage-deflate offered", echo: true, real: true, run: nil}, // TestNoCompressionNegotiated

		// Beyond the 40 cases: RFC 6455 section 5.2 leniencies closed (reliability.md).
		{id: "x.1", title: "payload length 5 in the 16-bit encoding", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, cat(nonMinimal(rawws.OpBinary, hello, 2), fr(true, 0, rawws.OpPing, nil)))
			expectFail(t, tg, c) // and no echo, no pong
		}},
		{id: "x.2", title: "payload length 300 in the 64-bit encoding", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, cat(nonMinimal(rawws.OpBinary, rep('*', 300), 8), fr(true, 0, rawws.OpPing, nil)))
			expectFail(t, tg, c)
		}},
		{id: "x.3", title: "ping with payload length 5 in the 16-bit encoding", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, nonMinimal(rawws.OpPing, hello, 2))
			expectFail(t, tg, c)
		}},
		{id: "x.4", title: "text, first fragment of invalid UTF-8, no end", echo: true, real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			// The rest never comes: the refusal cannot wait for the message to end (1003 on the
			// real endpoint, which refuses text at its first frame; 1007 on the echo harness,
			// which checks UTF-8 as fragments come).
			send(t, c, fr(false, 0, rawws.OpText, []byte{0xce, 0xba, 0xed, 0xa0, 0x80}))
			if tg.real {
				expectClose(t, tg, c, websocket.CloseUnsupportedData)
				return
			}
			expectClose(t, tg, c, websocket.CloseInvalidFramePayloadData)
		}},
		{id: "x.5", title: "text, first fragment of valid UTF-8, no end", real: true, run: func(t *testing.T, tg wsTarget, c *rawws.Conn) {
			send(t, c, fr(false, 0, rawws.OpText, []byte("κόσμε")))
			expectClose(t, tg, c, websocket.CloseUnsupportedData)
		}},
	}
}
