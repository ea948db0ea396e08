// Command tandem runs the tandem collaborative editing server and its tools.
//
//	tandem [serve] [flags]    run the server (the default with no subcommand)
//	tandem help               list the subcommands
//
// Every serve flag can also be set by an environment variable named TANDEM_ and the flag's name in
// capitals with '-' as '_' (--max-message-bytes is TANDEM_MAX_MESSAGE_BYTES); a flag given on the
// command line wins. docs/server.md lists them all.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is a subcommand's entry point: it gets the arguments after its name and returns the
// process's exit status (0 success, 1 failure, 2 bad usage).
type command struct {
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	summary string
}

// subcommands lists tandem's subcommands by name. A new one is one entry here, or one line in an
// init function of its own file: subcommands["watch"] = command{runWatch, "..."}.
var subcommands = map[string]command{
	"serve": {runServe, "run the server (the default)"},
}

// moved names former subcommands that are now programs of their own, with where to find them:
// asking for one prints that one line (status 2) rather than "unknown command". They are not in
// the help's list.
var moved = map[string]string{
	"bench": "the load generator is its own command now: go run ./cmd/tandem-bench (same flags)",
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand; with no subcommand, or flags first, it serves.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return subcommands["serve"].run(ctx, args, stdout, stderr)
	}
	name := args[0]
	if name == "help" {
		usage(stdout)
		return 0
	}
	if where, ok := moved[name]; ok {
		fmt.Fprintf(stderr, "tandem %s: %s\n", name, where)
		return 2
	}
	cmd, ok := subcommands[name]
	if !ok {
		fmt.Fprintf(stderr, "tandem: unknown command %q\nrun 'tandem help' for the commands\n", name)
		return 2
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: tandem [command] [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, subcommands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'tandem <command> -h' for a command's flags.")
}
