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
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(runBench(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// parseFlags parses args with fs without letting the flag package print anything: a bad flag's
// error comes back for badUsage to print as one line, rather than the error followed by every flag
// and the error once more. On -h or --help it prints fs's usage and returns flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string) error {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		if fs.Usage != nil {
			fs.Usage()
		} else {
			fmt.Fprintf(out, "usage of %s:\n", fs.Name())
			fs.PrintDefaults()
		}
	}
	return err
}

// badUsage prints err as one line, and where to read about the flags, and returns exit status 2.
func badUsage(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "tandem-bench: %v\nrun 'tandem-bench --help' for its flags\n", err)
	return 2
}
