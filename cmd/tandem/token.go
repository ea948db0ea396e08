package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/cmd/internal/cliflag"
)

func init() {
	subcommands["token"] = command{runToken, "mint an access token (HS256 JWT) for a subject and documents"}
}

// authSecretEnv is the environment variable that holds the token secret, for serve and token alike.
const authSecretEnv = envPrefix + "AUTH_SECRET"

func runToken(_ context.Context, args []string, stdout, stderr io.Writer) int {
	return tokenMain(args, os.Getenv, time.Now, stdout, stderr)
}

// tokenMain is `tandem token`: it prints one token on stdout, and its claims on stderr so that a
// script reading stdout gets the token alone.
func tokenMain(args []string, getenv func(string) string, now func() time.Time, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tandem token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		secret = fs.String("auth-secret", "", "the server's token secret, at least 32 bytes (default $"+authSecretEnv+"; prefer the variable: flags show in ps)")
		sub    = fs.String("sub", "", "subject: who the token is for (required)")
		doc    = fs.String("doc", "", "documents: an ID, or a prefix ending in '*' such as 'team-*'; '*' is every document (required)")
		role   = fs.String("role", string(auth.RoleRead), "role: read, write, or admin (write plus the revocation API)")
		ttl    = fs.Duration("ttl", time.Hour, "how long the token is valid")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tandem token --sub SUBJECT --doc PATTERN [--role read|write|admin] [--ttl 1h]")
		fmt.Fprintln(stderr, "\nPrints a token that `tandem serve` with the same secret accepts, as ?token= or")
		fmt.Fprintln(stderr, "an Authorization: Bearer header.")
		fs.PrintDefaults()
	}
	if err := cliflag.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return cliflag.BadUsage(stderr, "tandem token", err)
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "tandem token: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *secret == "" {
		*secret = getenv(authSecretEnv)
	}
	if *secret == "" {
		return usageErr("no secret: set %s or pass --auth-secret", authSecretEnv)
	}
	if *sub == "" {
		return usageErr("--sub is required")
	}
	if *doc == "" {
		return usageErr("--doc is required")
	}
	r, err := auth.ParseRole(*role)
	if err != nil {
		return usageErr("--role: %v", err)
	}
	if *ttl <= 0 {
		return usageErr("--ttl %v: want a positive duration", *ttl)
	}
	a, err := auth.New(auth.Config{Secret: []byte(*secret), Now: now})
	if err != nil {
		return usageErr("%v", err)
	}
	id, err := auth.NewID()
	if err != nil {
		return usageErr("%v", err)
	}
	c := auth.Claims{Subject: *sub, Documents: *doc, Role: r, Expires: now().Add(*ttl), ID: id}
	tok, err := a.Mint(c)
	if err != nil {
		return usageErr("%v", err)
	}
	fmt.Fprintln(stdout, string(tok))
	fmt.Fprintf(stderr, "token %s for %q on %q (%s), expires %s\n", c.ID, c.Subject, c.Documents, c.Role, c.Expires.UTC().Truncate(time.Second).Format(time.RFC3339))
	return 0
}
