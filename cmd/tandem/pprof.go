//go:build benchpprof

package main

// Built only with -tags benchpprof, for profiling a server under tandem-bench's load: when
// TANDEM_PPROF_ADDR names a loopback address (127.0.0.1:6061), "tandem serve" also serves
// net/http/pprof there. The normal build has no such endpoint. It is the server's side of a
// profiling run, so it stays with the server binary; the load generator (cmd/tandem-bench)
// passes the environment on to the server it spawns.
//
//	go build -tags benchpprof -o /tmp/tandem-pprof ./cmd/tandem
//	TANDEM_PPROF_ADDR=127.0.0.1:6061 go run ./cmd/tandem-bench --spawn --server-bin /tmp/tandem-pprof ... &
//	curl -o server.prof 'http://127.0.0.1:6061/debug/pprof/profile?seconds=10'

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("TANDEM_PPROF_ADDR")
	if addr == "" || len(os.Args) < 2 || os.Args[1] != "serve" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "tandem: TANDEM_PPROF_ADDR %q: want a loopback host:port\n", addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := http.ListenAndServe(addr, mux); err != nil {
			fmt.Fprintf(os.Stderr, "tandem: pprof on %s: %v\n", addr, err)
		}
	}()
}
