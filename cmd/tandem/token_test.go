package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tandemhq/tandem/auth"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func TestTokenMint(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want auth.Claims
	}{
		{
			"flags",
			[]string{"--auth-secret", testSecret, "--sub", "alice", "--doc", "team-*", "--role", "write", "--ttl", "2h"},
			nil,
			auth.Claims{Subject: "alice", Documents: "team-*", Role: auth.RoleWrite, Expires: now.Add(2 * time.Hour)},
		},
		{
			"secret from env, defaults",
			[]string{"--sub", "bob", "--doc", "notes"},
			map[string]string{"TANDEM_AUTH_SECRET": testSecret},
			auth.Claims{Subject: "bob", Documents: "notes", Role: auth.RoleRead, Expires: now.Add(time.Hour)},
		},
		{
			"flag wins over env",
			[]string{"--auth-secret", testSecret, "--sub", "c", "--doc", "*", "--role", "read", "--ttl", "90s"},
			map[string]string{"TANDEM_AUTH_SECRET": "another secret that is long enough to use"},
			auth.Claims{Subject: "c", Documents: "*", Role: auth.RoleRead, Expires: now.Add(90 * time.Second)},
		},
	}
	a, err := auth.New(auth.Config{Secret: []byte(testSecret), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := tokenMain(tt.args, func(k string) string { return tt.env[k] }, clock, &stdout, &stderr)
		if code != 0 {
			t.Errorf("%s: exit %d; want 0 (stderr %q)", tt.name, code, stderr.String())
			continue
		}
		out := stdout.String()
		if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
			t.Errorf("%s: stdout %q; want one line holding the token", tt.name, out)
		}
		got, err := a.Verify(auth.Token(strings.TrimSpace(out)))
		if err != nil {
			t.Errorf("%s: Verify(printed token) = %v", tt.name, err)
			continue
		}
		tt.want.IssuedAt = now
		// Every token carries a random ID, by which it can be revoked; stderr names it.
		if got.ID == "" || !strings.Contains(stderr.String(), got.ID) {
			t.Errorf("%s: token ID %q, stderr %q; want an ID, named on stderr", tt.name, got.ID, stderr.String())
		}
		tt.want.ID = got.ID
		if got != tt.want {
			t.Errorf("%s: claims %+v; want %+v", tt.name, got, tt.want)
		}
		if strings.Contains(stderr.String(), strings.TrimSpace(out)) {
			t.Errorf("%s: stderr repeats the token: %q", tt.name, stderr.String())
		}
	}
}

func TestTokenUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no secret", []string{"--sub", "a", "--doc", "d"}, "no secret"},
		{"short secret", []string{"--auth-secret", "short", "--sub", "a", "--doc", "d"}, "secret too short"},
		{"no sub", []string{"--auth-secret", testSecret, "--doc", "d"}, "--sub is required"},
		{"no doc", []string{"--auth-secret", testSecret, "--sub", "a"}, "--doc is required"},
		{"bad role", []string{"--auth-secret", testSecret, "--sub", "a", "--doc", "d", "--role", "owner"}, "role"},
		{"bad pattern", []string{"--auth-secret", testSecret, "--sub", "a", "--doc", "team/*"}, "document pattern"},
		{"inner star", []string{"--auth-secret", testSecret, "--sub", "a", "--doc", "a*b"}, "document pattern"},
		{"zero ttl", []string{"--auth-secret", testSecret, "--sub", "a", "--doc", "d", "--ttl", "0s"}, "--ttl"},
		{"negative ttl", []string{"--auth-secret", testSecret, "--sub", "a", "--doc", "d", "--ttl", "-1h"}, "--ttl"},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
		{"stray argument", []string{"--auth-secret", testSecret, "--sub", "a", "--doc", "d", "extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := tokenMain(tt.args, func(string) string { return "" }, time.Now, &stdout, &stderr)
		if code != 2 {
			t.Errorf("%s: exit %d; want 2", tt.name, code)
		}
		if stdout.Len() != 0 {
			t.Errorf("%s: stdout %q; want nothing", tt.name, stdout.String())
		}
		if !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%s: stderr %q; want it to mention %q", tt.name, stderr.String(), tt.want)
		}
	}
}

func TestTokenRegistered(t *testing.T) {
	if _, ok := subcommands["token"]; !ok {
		t.Fatalf("subcommands has no \"token\"")
	}
}
