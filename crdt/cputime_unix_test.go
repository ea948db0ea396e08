//go:build unix

package crdt_test

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has used (user and system): on a
// shared machine, benchmarks compare it rather than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
