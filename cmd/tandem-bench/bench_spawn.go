package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// spawnedServer is a tandem server the bench started itself: the binary given by --server-bin,
// listening on a free port of 127.0.0.1, storing into a file of a temporary directory.
type spawnedServer struct {
	cmd      *exec.Cmd
	addr     string // 127.0.0.1:port
	dataPath string
	logPath  string
	exited   chan struct{}
	waitErr  error
}

// listeningRE finds the address in the server's "listening" log line (slog text or JSON).
var listeningRE = regexp.MustCompile(`msg"?[=:]"?listening"?.*?addr"?[=:]"?(127\.0\.0\.1:\d+)`)

// spawnServer runs bin as "serve --addr addr --data dataPath extra..." and waits (at most
// wait) for the line that names its port. The server's log goes to logPath. With cpus (a taskset
// list such as "0"), the server runs under taskset on those CPUs only (taskset execs the server,
// so the PID is the server's).
func spawnServer(ctx context.Context, bin, addr, dataPath, logPath string, extra []string, cpus string, wait time.Duration) (*spawnedServer, error) {
	args := append([]string{"serve", "--addr", addr, "--data", dataPath}, extra...)
	cmd := exec.Command(bin, args...)
	if cpus != "" {
		ts, err := exec.LookPath("taskset")
		if err != nil {
			return nil, fmt.Errorf("bench: --server-cpus needs taskset: %w", err)
		}
		cmd = exec.Command(ts, append([]string{"-c", cpus, bin}, args...)...)
		// The server chooses its GOMAXPROCS as it would on a machine with those CPUs: a
		// GOMAXPROCS given to the bench is the bench's own.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "GOMAXPROCS=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("bench: server log: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("bench: %w", err)
	}
	cmd.Stdout = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("bench: start %s: %w", bin, err)
	}
	s := &spawnedServer{cmd: cmd, dataPath: dataPath, logPath: logPath, exited: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		// Copy the log to the file, picking out the address on the way.
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			if !sent {
				if m := listeningRE.FindStringSubmatch(line); m != nil {
					found <- m[1]
					sent = true
				}
			}
		}
		_, _ = io.Copy(logFile, stderr)
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s.addr = <-found:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("bench: server exited before listening (%v); log in %s", s.waitErr, logPath)
	case <-t.C:
	case <-ctx.Done():
	}
	s.kill()
	return nil, fmt.Errorf("bench: server did not report its address within %v; log in %s", wait, logPath)
}

// pid returns the server's process ID.
func (s *spawnedServer) pid() int { return s.cmd.Process.Pid }

// stop asks the server to shut down (SIGTERM) and waits up to timeout, then kills it.
func (s *spawnedServer) stop(timeout time.Duration) error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.exited:
		var ee *exec.ExitError
		if errors.As(s.waitErr, &ee) {
			return fmt.Errorf("bench: server exited with %v; log in %s", s.waitErr, s.logPath)
		}
		return nil
	case <-t.C:
		s.kill()
		return fmt.Errorf("bench: server did not stop within %v after SIGTERM; killed", timeout)
	}
}

// kill ends the server at once (SIGKILL) and waits for it.
func (s *spawnedServer) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}
