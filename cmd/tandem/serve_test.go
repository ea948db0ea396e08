package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemhq/tandem/server"
)

func TestParseServe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(o serveOptions) string // returns what is wrong, "" if right
		wantErr string
	}{
		{name: "defaults", check: func(o serveOptions) string {
			if o.addr != ":8080" || o.cfg.DataPath != "./tandem.db" || o.logFormat != "text" || o.cfg.MaxMessageBytes != server.DefaultMaxMessageBytes {
				return "defaults not applied"
			}
			return ""
		}},
		{name: "env", env: map[string]string{"TANDEM_ADDR": "127.0.0.1:9", "TANDEM_DATA": "/tmp/x.db", "TANDEM_MAX_MESSAGE_BYTES": "2MiB", "TANDEM_PONG_WAIT": "5s"},
			check: func(o serveOptions) string {
				if o.addr != "127.0.0.1:9" || o.cfg.DataPath != "/tmp/x.db" || o.cfg.MaxMessageBytes != 2<<20 || o.cfg.PongWait != 5*time.Second {
					return "env not applied"
				}
				return ""
			}},
		{name: "flag wins over env", args: []string{"--addr", "127.0.0.1:10"}, env: map[string]string{"TANDEM_ADDR": "127.0.0.1:9"},
			check: func(o serveOptions) string {
				if o.addr != "127.0.0.1:10" {
					return "addr " + o.addr
				}
				return ""
			}},
		{name: "origins", args: []string{"--allowed-origins", "https://a.example, https://b.example"},
			check: func(o serveOptions) string {
				if strings.Join(o.cfg.AllowedOrigins, "|") != "https://a.example|https://b.example" {
					return "origins " + strings.Join(o.cfg.AllowedOrigins, "|")
				}
				return ""
			}},
		{name: "log level", args: []string{"--log-level", "debug", "--log-format", "json"},
			check: func(o serveOptions) string {
				if o.logLevel.String() != "DEBUG" || o.logFormat != "json" {
					return "log options"
				}
				return ""
			}},
		{name: "security", args: []string{"--updates-per-second", "5.5", "--enable-compression"}, env: map[string]string{"TANDEM_AUTH_SECRET": "0123456789abcdef0123456789abcdef"},
			check: func(o serveOptions) string {
				if string(o.cfg.AuthSecret) != "0123456789abcdef0123456789abcdef" || o.cfg.UpdatesPerSecond != 5.5 || !o.cfg.EnableCompression {
					return "security options not applied"
				}
				return ""
			}},
		{name: "transport budgets", args: []string{"--max-partial-message-bytes", "32MiB", "--frame-stall-timeout", "2s", "--close-timeout", "20s"},
			env: map[string]string{"TANDEM_SEND_BUFFER_BYTES": "128KiB", "TANDEM_WRITE_TIMEOUT": "3s"},
			check: func(o serveOptions) string {
				c := o.cfg
				if c.MaxPartialMessageBytes != 32<<20 || c.FrameStallTimeout != 2*time.Second || c.CloseTimeout != 20*time.Second || c.SendBufferBytes != 128<<10 || c.WriteTimeout != 3*time.Second {
					return "transport budgets not applied"
				}
				return ""
			}},
		{name: "memory policy", args: []string{"--gc-percent", "25"}, env: map[string]string{"TANDEM_MEMORY_LIMIT": "512MiB"},
			check: func(o serveOptions) string {
				if o.gcPercent != 25 || o.memoryLimit != 512<<20 {
					return "memory policy not applied"
				}
				return ""
			}},
		{name: "bad gc percent", args: []string{"--gc-percent", "-5"}, wantErr: "gc-percent"},
		{name: "unknown flag", args: []string{"--bogus"}, wantErr: "flag provided but not defined"},
		{name: "bad duration", args: []string{"--pong-wait", "soon"}, wantErr: "pong-wait"},
		{name: "bad env", env: map[string]string{"TANDEM_SEND_QUEUE_BYTES": "lots"}, wantErr: "TANDEM_SEND_QUEUE_BYTES"},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantErr: "log-format"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			o, err := parseServe(tc.args, getenv, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseServe(%q) error = %v; want one containing %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseServe(%q) = %v", tc.args, err)
			}
			if msg := tc.check(o); msg != "" {
				t.Errorf("parseServe(%q): %s: %+v", tc.args, msg, o)
			}
		})
	}
}

func TestServeProcs(t *testing.T) {
	tests := []struct {
		env     string
		current int
		want    int
	}{
		{"", 1, 2},
		{"", 2, 2},
		{"", 8, 8},
		{"1", 1, 1}, // the operator's choice stands
		{"4", 4, 4},
	}
	for _, tt := range tests {
		getenv := func(k string) string {
			if k == "GOMAXPROCS" {
				return tt.env
			}
			return ""
		}
		if got := serveProcs(getenv, tt.current); got != tt.want {
			t.Errorf("serveProcs(GOMAXPROCS=%q, current %d) = %d, want %d", tt.env, tt.current, got, tt.want)
		}
	}
}

func TestRunUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"nosuchcommand"}, {"serve", "--bogus"}, {"--max-message-bytes", "-3"}, {"--auth-secret", "short", "--data", "UNUSED"}} {
		var stderr bytes.Buffer
		if got := run(context.Background(), args, io.Discard, &stderr); got != 2 {
			t.Errorf("run(%q) = %d; want 2 (stderr %q)", args, got, stderr.String())
		}
		if stderr.Len() == 0 {
			t.Errorf("run(%q): no message on stderr", args)
		}
	}
}

// childEnv, when set, makes TestServeChild run tandem with the arguments in TANDEM_TEST_ARGS
// (separated by spaces) and exit with its status: the tests start the test binary itself as a
// tandem process that way.
const childEnv = "TANDEM_TEST_CHILD"

func TestServeChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("runs only as a child process of the other tests")
	}
	os.Exit(run(context.Background(), strings.Fields(os.Getenv("TANDEM_TEST_ARGS")), os.Stdout, os.Stderr))
}

// childCommand returns a command that runs tandem with args in a child process.
func childCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "TANDEM_TEST_ARGS="+strings.Join(args, " "))
	return cmd
}

// child is tandem serving in a child process of a test.
type child struct {
	args   []string
	cmd    *exec.Cmd
	stderr *syncBuffer
	lines  chan string // the first line it prints
}

// startChild runs tandem serve with args in a child process, which the test's end kills if it
// still runs.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{args: args, cmd: childCommand(args...), stderr: &syncBuffer{}, lines: make(chan string, 1)}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default:
			}
		}
	}()
	return c
}

// url waits up to wait for the first line the child prints, and returns the URL it serves on,
// which that line names.
func (c *child) url(t *testing.T, wait time.Duration) string {
	t.Helper()
	select {
	case line := <-c.lines:
		m := regexp.MustCompile(`http://[^ /]+/`).FindString(line)
		if m == "" {
			t.Fatalf("tandem %q: first line %q names no URL", c.args, line)
		}
		return strings.TrimSuffix(m, "/")
	case <-time.After(wait):
		t.Fatalf("tandem %q printed nothing within %v; stderr: %s", c.args, wait, c.stderr)
	}
	return ""
}

// term stops the child with SIGTERM and returns how it exited; the test fails if it has not
// within wait.
func (c *child) term(t *testing.T, wait time.Duration) error {
	t.Helper()
	c.signal(t)
	return c.wait(t, wait)
}

// signal sends the child SIGTERM.
func (c *child) signal(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// wait waits up to wait for the child to exit, and returns what Wait returned.
func (c *child) wait(t *testing.T, wait time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(wait):
		t.Fatalf("tandem %q: no exit within %v of SIGTERM", c.args, wait)
	}
	return nil
}

// TestServeSignalAndSecondInstance starts a server in a child process, checks that it serves, that
// a second one on the same data file gives up within about two seconds with a clear message, and
// that SIGTERM stops the first with exit status 0.
func TestServeSignalAndSecondInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	data := filepath.Join(t.TempDir(), "tandem.db")
	c := startChild(t, "--addr", "127.0.0.1:0", "--data", data)
	resp, err := http.Get(c.url(t, 20*time.Second) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}

	second := childCommand("--addr", "127.0.0.1:0", "--data", data)
	var out bytes.Buffer
	second.Stderr = &out
	start := time.Now()
	err = second.Run()
	took := time.Since(start)
	if err == nil || second.ProcessState.ExitCode() == 0 {
		t.Errorf("second instance exited with %v; want a non-zero status", err)
	}
	if took > 3*time.Second {
		t.Errorf("second instance took %v to give up; want about 1 s", took)
	}
	if !strings.Contains(out.String(), "in use by another tandem process") {
		t.Errorf("second instance said %q; want it to name the lock", out.String())
	}

	if err := c.term(t, 15*time.Second); err != nil {
		t.Errorf("after SIGTERM: %v; want exit status 0 (stderr: %s)", err, c.stderr.String())
	}
	if !strings.Contains(c.stderr.String(), "shutdown complete") {
		t.Errorf("stderr lacks the shutdown log: %s", c.stderr.String())
	}
}

func TestEditorURL(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"[::]:8080", "http://localhost:8080/"},
		{"0.0.0.0:8080", "http://localhost:8080/"},
		{"127.0.0.1:9000", "http://127.0.0.1:9000/"},
	} {
		a, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := editorURL(a); got != tc.want {
			t.Errorf("editorURL(%s) = %s; want %s", tc.addr, got, tc.want)
		}
	}
}
