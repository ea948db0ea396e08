package storage

import (
	"fmt"
	"os"
	"testing"
)

// Some tests run this test binary again as a child process (bbolt's file lock is per process, and
// a crash needs a process to kill). childEnv selects what the child does instead of running tests.
const childEnv = "TANDEM_STORAGE_TEST_CHILD"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(childEnv); mode {
	case "":
		os.Exit(m.Run())
	case "lock":
		os.Exit(lockChild())
	case "crash":
		os.Exit(crashChild())
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", childEnv, mode)
		os.Exit(2)
	}
}
