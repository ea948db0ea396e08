// Package cliflag parses the flags of tandem's commands (tandem and tandem-bench) the same way:
// quietly, so that a bad flag is reported as one line and a pointer to the help rather than the
// flag package's error, the list of every flag, and the error once more. It knows nothing of the
// commands themselves and imports nothing of ours.
package cliflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Parse parses args with fs without letting the flag package print anything: a bad flag's error
// comes back for BadUsage to print as one line. On -h or --help it prints fs's usage (fs.Usage, or
// the flag defaults when that is nil) to fs's output and returns flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string) error {
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

// BadUsage prints err to stderr as one line headed by command ("tandem serve", "tandem-bench"),
// and a second line saying how to read about command's flags, and returns exit status 2.
func BadUsage(stderr io.Writer, command string, err error) int {
	fmt.Fprintf(stderr, "%s: %v\nrun '%s --help' for its flags\n", command, err, command)
	return 2
}
