package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runChild runs tandem with args in a child process and returns its exit status and output.
func runChild(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := childCommand(args...)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("tandem %q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// TestCLIUsageErrors runs tandem as a process: a bad flag or command is one line of error and one
// pointer to the help, with status 2; a server that cannot start leaves no data file behind.
func TestCLIUsageErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	data := filepath.Join(dir, "tandem.db")
	tests := []struct {
		name       string
		args       []string
		status     int
		stderr     string // what the first line says
		helpHint   string // the second line's pointer; "" for none
		noDataFile bool
	}{
		{"unknown flag", []string{"serve", "--bogus", "--data", data}, 2, "tandem serve: flag provided but not defined: -bogus", "tandem serve --help", true},
		{"unknown flag, no command", []string{"--bogus"}, 2, "tandem serve: flag provided but not defined: -bogus", "tandem serve --help", true},
		{"bad value", []string{"--max-message-bytes", "-3", "--data", data}, 2, "tandem serve: invalid value", "tandem serve --help", true},
		{"port out of range", []string{"--addr", ":99999", "--data", data}, 2, `tandem serve: invalid value ":99999" for -addr`, "tandem serve --help", true},
		{"no port", []string{"--addr", "localhost", "--data", data}, 2, `tandem serve: invalid value "localhost" for -addr`, "tandem serve --help", true},
		{"port in use", []string{"--addr", busy.Addr().String(), "--data", data}, 1, "address already in use", "", true},
		{"refused config", []string{"--auth-secret", "short", "--addr", "127.0.0.1:0", "--data", data}, 2, "AuthSecret", "tandem serve --help", true},
		{"unknown command", []string{"nosuchcommand"}, 2, `tandem: unknown command "nosuchcommand"`, "tandem help", true},
		{"watch, unknown flag", []string{"watch", "--nope", "doc"}, 2, "tandem watch: flag provided but not defined: -nope", "tandem watch --help", true},
		{"token, unknown flag", []string{"token", "--nope"}, 2, "tandem token: flag provided but not defined: -nope", "tandem token --help", true},
	}
	for _, tt := range tests {
		status, _, stderr := runChild(t, nil, tt.args...)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if status != tt.status {
			t.Errorf("%s: tandem %q exited %d; want %d (stderr %q)", tt.name, tt.args, status, tt.status, stderr)
		}
		if !strings.Contains(lines[0], tt.stderr) {
			t.Errorf("%s: first line %q; want it to say %q", tt.name, lines[0], tt.stderr)
		}
		if tt.helpHint != "" && (len(lines) != 2 || !strings.Contains(lines[1], tt.helpHint)) {
			t.Errorf("%s: stderr %q; want two lines, the error and a pointer to %q", tt.name, stderr, tt.helpHint)
		}
		if strings.Count(stderr, "flag provided but not defined") > 1 || strings.Contains(stderr, "-max-document-bytes") {
			t.Errorf("%s: stderr %q repeats the error or lists the flags", tt.name, stderr)
		}
		if _, err := os.Stat(data); tt.noDataFile && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the data file exists after a failed start (%v)", tt.name, err)
			_ = os.Remove(data)
		}
	}

	// --help prints the flags and exits 0.
	status, stdout, stderr := runChild(t, nil, "serve", "--help")
	if status != 0 || !strings.Contains(stdout+stderr, "-allowed-origins") {
		t.Errorf("serve --help exited %d printing %q %q; want 0 and the flags", status, stdout, stderr)
	}
}

// TestWatchFollowsAddr: without --url, watch connects to the server that TANDEM_ADDR names, as
// serve listens on it.
func TestWatchFollowsAddr(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env := map[string]string{"TANDEM_ADDR": "127.0.0.1:1"}
	var out, errOut bytes.Buffer
	if got := watchMain(ctx, []string{"doc"}, func(k string) string { return env[k] }, &out, &errOut); got != 1 {
		t.Errorf("watch with TANDEM_ADDR of a closed port = %d; want 1 (stderr %q)", got, errOut.String())
	}
	if !strings.Contains(errOut.String(), "127.0.0.1:1") {
		t.Errorf("stderr %q; want it to name the address from TANDEM_ADDR", errOut.String())
	}
	for _, tc := range []struct{ addr, want string }{
		{":9000", "ws://localhost:9000"},
		{"0.0.0.0:9000", "ws://localhost:9000"},
		{"[::]:9000", "ws://localhost:9000"},
		{"127.0.0.1:9000", "ws://127.0.0.1:9000"},
		{"example.com:443", "ws://example.com:443"},
	} {
		if got := addrURL(tc.addr); got != tc.want {
			t.Errorf("addrURL(%q) = %q; want %q", tc.addr, got, tc.want)
		}
	}
}

// TestMovedCommand: "tandem bench" is no longer a subcommand; asking for it prints one line that
// says where the load generator went, with status 2, and the help does not list it.
func TestMovedCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if got := run(context.Background(), []string{"bench", "--spawn", "--mode", "idle"}, &stdout, &stderr); got != 2 {
		t.Errorf("tandem bench exited %d; want 2", got)
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "./cmd/tandem-bench") || stdout.Len() != 0 {
		t.Errorf("tandem bench printed stdout %q, stderr %q; want one line on stderr naming ./cmd/tandem-bench", stdout.String(), stderr.String())
	}
	stdout.Reset()
	usage(&stdout)
	if strings.Contains(stdout.String(), "bench") || !strings.Contains(stdout.String(), "serve") {
		t.Errorf("help lists %q; want serve and no bench", stdout.String())
	}
}
