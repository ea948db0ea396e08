package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandemhq/tandem/server"
)

// A server on a temporary file: an HTTP edit, read back, then a graceful shutdown.
func Example() {
	dir, err := os.MkdirTemp("", "tandem-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	srv, err := server.New(server.Config{DataPath: filepath.Join(dir, "tandem.db")})
	if err != nil {
		panic(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	base := "http://" + l.Addr().String()

	edit := `{"root": "body", "edits": [{"index": 0, "insert": "hello, tandem"}]}`
	resp, err := http.Post(base+"/v1/docs/notes/edits", "application/json", strings.NewReader(edit))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("edit:", resp.Status)

	resp, err = http.Get(base + "/v1/docs/notes")
	if err != nil {
		panic(err)
	}
	var doc struct {
		Texts map[string]string `json:"texts"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	fmt.Println("body:", doc.Texts["body"])

	// Ending Serve's context shuts the server down: sockets closed with 1001, documents saved,
	// storage closed.
	stop()
	select {
	case err := <-served:
		fmt.Println("shutdown error:", err)
	case <-time.After(10 * time.Second):
		fmt.Println("shutdown timed out")
	}
	// Output:
	// edit: 200 OK
	// body: hello, tandem
	// shutdown error: <nil>
}
