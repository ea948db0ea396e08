package jetstream_test

import (
	"fmt"

	"github.com/tandemhq/tandem/storage/backend"
	"github.com/tandemhq/tandem/storage/jetstream"
)

// A node's follower: deliveries arrive out of order and one is lost; the follower applies what
// follows its cursor, holds the rest and asks for the gap to be read.
func ExampleFollower() {
	f := jetstream.NewFollower(0, 0, nil)
	show := func(s jetstream.Steps) {
		for _, e := range s.Apply {
			fmt.Printf("apply %d %s\n", e.Seq, e.Data)
		}
		if s.Repair {
			fmt.Printf("read %d..%d\n", s.RepairFrom, s.RepairTo)
		}
	}
	show(f.Deliver(jetstream.Delivery{Seq: 3, Prev: 0, Data: []byte("a")}))
	show(f.Deliver(jetstream.Delivery{Seq: 9, Prev: 7, Data: []byte("c")})) // 7 was lost
	show(f.Repaired([]backend.Entry{{Seq: 7, Data: []byte("b")}}))
	fmt.Println("cursor", f.Last())
	// Output:
	// apply 3 a
	// read 4..9
	// apply 7 b
	// apply 9 c
	// cursor 9
}
