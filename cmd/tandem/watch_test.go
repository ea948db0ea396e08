package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemhq/tandem/server"
)

// syncBuffer is a bytes.Buffer that the watcher writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWatchPrintsEveryChange(t *testing.T) {
	s, err := server.New(server.Config{DataPath: filepath.Join(t.TempDir(), "watch.db")})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	base := "http://" + l.Addr().String()
	edit := func(insert string) {
		t.Helper()
		body := `{"root":"body","edits":[{"index":0,"delete":0,"insert":` + `"` + insert + `"` + `}]}`
		resp, err := http.Post(base+"/v1/docs/watched/edits", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST edits: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST edits: status %d", resp.StatusCode)
		}
	}
	edit("world")

	var out, errOut syncBuffer
	wctx, wcancel := context.WithCancel(ctx)
	code := make(chan int, 1)
	go func() {
		code <- watchMain(wctx, []string{"--url", "ws://" + l.Addr().String(), "watched"}, func(string) string { return "" }, &out, &errOut)
	}()
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("watch output = %q; want a line %q (stderr %q)", out.String(), want, errOut.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("world\n")
	edit("hello ")
	waitFor("hello world\n")
	wcancel()
	if c := <-code; c != 0 {
		t.Errorf("watch exit status = %d; want 0 (stderr %q)", c, errOut.String())
	}
}

func TestWatchUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no document", nil, 2},
		{"two documents", []string{"a", "b"}, 2},
		{"unknown flag", []string{"--nope", "a"}, 2},
		{"unreachable server", []string{"--url", "ws://127.0.0.1:1", "a"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			if got := watchMain(ctx, tt.args, func(string) string { return "" }, &out, &errOut); got != tt.want {
				t.Errorf("watch %q = %d; want %d (stderr %q)", tt.args, got, tt.want, errOut.String())
			}
			if errOut.Len() == 0 {
				t.Errorf("watch %q printed no message on stderr", tt.args)
			}
		})
	}
}
