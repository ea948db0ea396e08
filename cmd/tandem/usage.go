package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

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

// badUsage prints err as one line, and where to read about the command, and returns exit status 2.
func badUsage(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "tandem %s: %v\nrun 'tandem %s --help' for its flags\n", name, err, name)
	return 2
}
