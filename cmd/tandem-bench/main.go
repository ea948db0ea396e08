// Command tandem-bench is tandem's load generator: it drives a tandem server on this machine (or,
// with --proto yws|hocus, the Yjs anchors) over real WebSocket connections and prints one JSON
// line of results. It is a separate program from the server: it talks to it only over the wire
// (--url, or --spawn with the server binary given by --server-bin), and reads the server's data
// file only after stopping it (heavy mode).
//
//	go build -o /tmp/tandem ./cmd/tandem
//	go run ./cmd/tandem-bench --spawn --server-bin /tmp/tandem --mode latency --duration 10s
//
// bench/README.md describes the modes and how the figures compare with the anchors'.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(runBench(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
