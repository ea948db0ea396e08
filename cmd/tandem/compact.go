package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/tandemhq/tandem/storage"
)

func init() {
	subcommands["compact"] = command{runCompact, "copy a stopped server's data file into a new one holding only live data"}
}

// runCompact is `tandem compact`: storage.CompactFile behind flags. The server's file never
// shrinks by itself (docs/server.md, Storage); this is the offline way to give the space back.
func runCompact(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tandem compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		data = fs.String("data", "", "the data file to compact, as given to serve --data (required; the server must be stopped)")
		out  = fs.String("out", "", "the new file to write (required; must not exist)")
		wait = fs.Duration("lock-timeout", time.Second, "how long to wait for the data file's lock")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tandem compact --data FILE --out NEWFILE")
		fmt.Fprintln(stderr, "\nCopies the data file of a stopped server into NEWFILE, leaving behind the space that")
		fmt.Fprintln(stderr, "compaction and deletion freed. FILE is not changed: move NEWFILE over it (or start the")
		fmt.Fprintln(stderr, "server with --data NEWFILE) once you have checked it.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "tandem compact: unexpected argument %q\n", fs.Arg(0))
		return 2
	case *data == "" || *out == "":
		fmt.Fprintln(stderr, "tandem compact: --data and --out are required")
		return 2
	}
	before, after, err := storage.CompactFile(*data, *out, *wait)
	if errors.Is(err, storage.ErrLocked) {
		fmt.Fprintf(stderr, "tandem compact: %v (stop the server first)\n", err)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "tandem compact: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %d bytes -> %s: %d bytes\n", *data, before, *out, after)
	return 0
}
