package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandemhq/tandem/auth"
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

// tandem mounted on an application's own router, under /collab, with the application's own
// authentication (here HTTP basic auth; a session cookie works the same way) in place of tokens.
func Example_embedding() {
	dir, err := os.MkdirTemp("", "tandem-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	srv, err := server.New(server.Config{
		DataPath:      filepath.Join(dir, "tandem.db"),
		OmitDemoRoute: true,
		Hooks: server.Hooks{Authenticate: func(r *http.Request) (server.Identity, error) {
			user, password, ok := r.BasicAuth()
			if !ok || password != "open sesame" {
				return server.Identity{}, errors.New("no session")
			}
			return server.Identity{Subject: user, Role: auth.RoleWrite}, nil
		}},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/collab/", http.StripPrefix("/collab", srv.Handler()))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "the application") })
	app := httptest.NewServer(mux)
	defer app.Close()

	edit := func(user, password string) string {
		body := `{"root": "body", "edits": [{"index": 0, "insert": "hello from ` + user + `"}]}`
		req, _ := http.NewRequest("POST", app.URL+"/collab/v1/docs/notes/edits", strings.NewReader(body))
		req.SetBasicAuth(user, password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		return resp.Status
	}
	fmt.Println("alice, wrong password:", edit("alice", "guess"))
	fmt.Println("alice:", edit("alice", "open sesame"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("shutdown error:", srv.Shutdown(ctx))
	// Output:
	// alice, wrong password: 401 Unauthorized
	// alice: 200 OK
	// shutdown error: <nil>
}

// An observer of the documents' lives: it hears of a document created, then of its change once
// the document has been quiet for ChangeDebounce, with its state vector (here one client's 5
// characters), and of its deletion.
func ExampleHooks_observe() {
	dir, err := os.MkdirTemp("", "tandem-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	events := make(chan server.DocEvent, 16)
	srv, err := server.New(server.Config{
		DataPath: filepath.Join(dir, "tandem.db"),
		Hooks: server.Hooks{
			Observe:        func(e server.DocEvent) { events <- e },
			ChangeDebounce: 50 * time.Millisecond,
		},
	})
	if err != nil {
		panic(err)
	}
	app := httptest.NewServer(srv.Handler())
	defer app.Close()

	edit := `{"root": "body", "edits": [{"index": 0, "insert": "hello"}]}`
	resp, err := http.Post(app.URL+"/v1/docs/notes/edits", "application/json", strings.NewReader(edit))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	for range 2 {
		e := <-events
		var clocks []uint64
		for _, n := range e.StateVector {
			clocks = append(clocks, n)
		}
		fmt.Println(e.Kind, e.Document, clocks)
	}
	req, _ := http.NewRequest("DELETE", app.URL+"/v1/docs/notes", nil)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		panic(err)
	}
	resp.Body.Close()
	e := <-events
	fmt.Println(e.Kind, e.Document)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("shutdown error:", srv.Shutdown(ctx))
	// Output:
	// created notes []
	// changed notes [5]
	// deleted notes
	// shutdown error: <nil>
}
