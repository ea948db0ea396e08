package crdt_test

import (
	"fmt"

	"github.com/tandemhq/tandem/crdt"
)

// Two replicas edit the same text concurrently and exchange their updates;
// both end with the same text.
func ExampleDoc() {
	alice, _ := crdt.NewDoc(1, crdt.Config{})
	bob, _ := crdt.NewDoc(2, crdt.Config{})

	alice.Text("body").Insert(0, "Hello world")
	if _, err := bob.Apply(alice.TakeUpdate()); err != nil {
		panic(err)
	}

	// Concurrent edits: neither has seen the other's.
	alice.Text("body").Insert(5, ",")
	bob.Text("body").Insert(11, "!")
	fromAlice, fromBob := alice.TakeUpdate(), bob.TakeUpdate()
	bob.Apply(fromAlice)
	alice.Apply(fromBob)

	fmt.Println(alice.Text("body").String())
	fmt.Println(bob.Text("body").String())
	// Output:
	// Hello, world!
	// Hello, world!
}

// A replica that was offline catches up by state vector.
func ExampleDoc_EncodeUpdate() {
	server, _ := crdt.NewDoc(1, crdt.Config{})
	server.Text("body").Insert(0, "draft")
	server.Map("meta").Set("title", []byte(`"Notes"`))

	client, _ := crdt.NewDoc(2, crdt.Config{})
	missing := server.EncodeUpdate(client.StateVector())
	changes, _ := client.Apply(missing)
	for _, c := range changes {
		fmt.Println(c.Kind, c.Root, c.Edits, c.Keys)
	}
	title, _ := client.Map("meta").Get("title")
	fmt.Println(client.Text("body").String(), string(title))
	// Output:
	// text body [{0 0 draft}] []
	// map meta [] [title]
	// draft "Notes"
}

// A relative position keeps a cursor in place across concurrent edits.
func ExampleText_RelPos() {
	a, _ := crdt.NewDoc(1, crdt.Config{})
	a.Text("body").Insert(0, "world")
	cursor, _ := a.Text("body").RelPos(0, 0) // before "w"

	b, _ := crdt.NewDoc(2, crdt.Config{})
	b.Apply(a.TakeUpdate())
	b.Text("body").Insert(0, "hello ")
	a.Apply(b.TakeUpdate())

	i, _ := a.Resolve(cursor)
	fmt.Println(i, a.Text("body").String()[i:])
	// Output:
	// 6 world
}
