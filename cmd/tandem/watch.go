package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/cmd/internal/cliflag"
)

func init() {
	subcommands["watch"] = command{runWatch, "follow a document over a WebSocket and print its text on every change"}
}

func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return watchMain(ctx, args, os.Getenv, stdout, stderr)
}

// watchMain is `tandem watch`: it joins a document as a read-only editor and prints the text of one
// root after the initial sync and after every remote change, until interrupted or closed.
func watchMain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tandem watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		url   = fs.String("url", "ws://localhost:8080", "the server's base URL (ws:// or wss://; default from $"+envPrefix+"ADDR when set)")
		root  = fs.String("root", "body", "the Text root to print")
		token = fs.String("token", "", "an access token (default $"+envPrefix+"TOKEN)")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tandem watch [--url ws://localhost:8080] [--root body] [--token T] DOCUMENT")
		fmt.Fprintln(stderr, "\nPrints the document's text after the initial sync and after every change made by")
		fmt.Fprintln(stderr, "its editors, until interrupted. It connects read-only: it never changes the document.")
		fs.PrintDefaults()
	}
	if err := cliflag.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return cliflag.BadUsage(stderr, "tandem watch", err)
	}
	if fs.NArg() != 1 {
		return cliflag.BadUsage(stderr, "tandem watch", errors.New("name one document"))
	}
	if !flagSet(fs, "url") {
		if addr := getenv(envPrefix + "ADDR"); addr != "" {
			*url = addrURL(addr) // the server `tandem serve` starts with the same environment
		}
	}
	if *token == "" {
		*token = getenv(envPrefix + "TOKEN")
	}
	changed := make(chan struct{}, 1)
	conn, err := client.Dial(ctx, *url, fs.Arg(0), client.Options{
		Token:     *token,
		ReadOnly:  true,
		Reconnect: true,
		OnUpdate: func([]byte) {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
		OnStatus: func(s client.Status, err error) {
			if err != nil {
				fmt.Fprintf(stderr, "tandem watch: %v (reconnecting)\n", err)
			}
		},
	})
	if err != nil {
		fmt.Fprintf(stderr, "tandem watch: %v\n", err)
		return 1
	}
	defer conn.Close()
	last := conn.Text(*root)
	fmt.Fprintln(stdout, last)
	for {
		select {
		case <-ctx.Done():
			return 0
		case <-conn.Done():
			if err := conn.Err(); err != nil && !errors.Is(err, client.ErrClosed) {
				fmt.Fprintf(stderr, "tandem watch: %v\n", err)
				return 1
			}
			return 0
		case <-changed:
			if text := conn.Text(*root); text != last {
				last = text
				fmt.Fprintln(stdout, text)
			}
		}
	}
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// addrURL returns the WebSocket base URL of a server listening on addr (--addr, TANDEM_ADDR), as
// seen from this machine: an empty or unspecified host is localhost.
func addrURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "ws://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "ws://" + net.JoinHostPort(host, port)
}
