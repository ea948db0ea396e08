package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// lockChild opens the store named by the environment and prints how that went: "locked <ms>
// <error>" when Open failed with ErrLocked, "opened" when it succeeded, "error <error>" otherwise.
func lockChild() int {
	timeout, err := time.ParseDuration(os.Getenv("TANDEM_STORAGE_LOCK_TIMEOUT"))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	start := time.Now()
	s, err := Open(os.Getenv("TANDEM_STORAGE_PATH"), Options{LockTimeout: timeout})
	elapsed := time.Since(start)
	switch {
	case errors.Is(err, ErrLocked):
		fmt.Println("locked", elapsed.Milliseconds(), err)
	case err != nil:
		fmt.Println("error", err)
	default:
		fmt.Println("opened")
		if err := s.Close(); err != nil {
			fmt.Println("error", err)
		}
	}
	return 0
}

// runLockChild runs lockChild on path and returns its output line.
func runLockChild(t *testing.T, path string, timeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=lock", "TANDEM_STORAGE_PATH="+path,
		"TANDEM_STORAGE_LOCK_TIMEOUT="+timeout.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("lock child: %v (output %q)", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestOpenLockedByOtherProcess (T-DUR-08): while this process holds the store, another process's
// Open fails with ErrLocked, naming the path, after about LockTimeout; once it is closed, the other
// process opens it.
func TestOpenLockedByOtherProcess(t *testing.T) {
	s, path := openTest(t, Options{})
	mustAppend(t, s, "a", "held")

	const timeout = 300 * time.Millisecond
	out := runLockChild(t, path, timeout)
	var ms int64
	if _, err := fmt.Sscanf(out, "locked %d", &ms); err != nil {
		t.Fatalf("second Open in another process: %q; want it to fail with ErrLocked", out)
	}
	waited := time.Duration(ms) * time.Millisecond
	// bbolt polls the lock every 50 ms and gives up one poll early.
	if waited < timeout/2 || waited > timeout+2*time.Second {
		t.Errorf("second Open gave up after %v; want about %v", waited, timeout)
	}
	if !strings.Contains(out, path) {
		t.Errorf("second Open error %q does not name the path %q", out, path)
	}
	t.Logf("child: %s", out)

	mustAppend(t, s, "a", "still works")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if out := runLockChild(t, path, timeout); out != "opened" {
		t.Errorf("Open in another process after Close: %q; want opened", out)
	}
}
