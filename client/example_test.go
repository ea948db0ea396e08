package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
)

// A bot that opens a document, appends a line, and waits until the server has stored it durably.
// (No Output comment: it needs a server on 127.0.0.1:8080, so it is compiled but not run.)
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws://127.0.0.1:8080", "notes", client.Options{Reconnect: true})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	err = c.Edit(func(d *crdt.Doc) error {
		body := d.Text("body")
		return body.Insert(body.Len(), "written by a bot\n")
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.WaitSaved(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Text("body"))
}
