package protocol_test

import (
	"errors"
	"fmt"

	"github.com/tandemhq/tandem/protocol"
)

func ExampleEncodeFrame() {
	// A client opens channel 0 with an empty document.
	b := protocol.EncodeFrame(0, &protocol.Hello{Version: protocol.Version, ClientID: 300})
	fmt.Printf("% x\n", b)

	// An update travels with its bytes as they are.
	b = protocol.EncodeFrame(0, &protocol.Update{Data: []byte{0xaa, 0xbb}})
	fmt.Printf("% x\n", b)
	// Output:
	// 01 00 01 ac 02 00 00
	// 03 00 02 aa bb
}

func ExampleDecodeFrame() {
	f, err := protocol.DecodeFrame([]byte{0x03, 0x00, 0x02, 0xaa, 0xbb}, protocol.FromClient)
	if err != nil {
		fmt.Println(err)
		return
	}
	switch m := f.Message.(type) {
	case *protocol.Update:
		fmt.Printf("update on channel %d: % x\n", f.Channel, m.Data)
	}

	// A malformed frame is an error that maps to a close code.
	_, err = protocol.DecodeFrame([]byte{0x03, 0x00, 0x05, 0xaa}, protocol.FromClient)
	code, _ := protocol.CloseCodeFor(err)
	fmt.Println(errors.Is(err, protocol.ErrTruncated), code)
	fmt.Println(err)
	// Output:
	// update on channel 0: aa bb
	// true 4400 bad message
	// protocol: truncated: update data: length 5, 1 bytes left
}

func ExampleError() {
	// The server refuses something deep inside and returns an *Error like any error ...
	var err error = protocol.Errorf(protocol.CloseForbidden, "read-only connection sent an update")

	// ... and the connection turns it into an error message and a close code in one place.
	var e *protocol.Error
	if errors.As(err, &e) {
		fmt.Printf("% x\n", protocol.EncodeFrame(0, e)[:4])
		fmt.Println(e.Code, e.Code.Terminal())
	}
	fmt.Println(err)
	// Output:
	// 06 00 b3 22
	// 4403 forbidden true
	// protocol: 4403 forbidden: read-only connection sent an update
}
