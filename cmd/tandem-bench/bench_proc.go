package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat and /proc/stat. It is 100
// on every Linux architecture Go supports (the kernel's ABI fixes it, whatever CONFIG_HZ is).
const clockTicks = 100

// procCPU returns the user plus system CPU time a process has used, from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	return parseProcStatCPU(b)
}

// parseProcStatCPU reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat line. The
// command name (field 2) may hold spaces and parentheses, so fields are counted from the last ')'.
func parseProcStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0, fmt.Errorf("bench: malformed /proc stat line")
	}
	f := strings.Fields(string(b[i+2:]))
	// f[0] is field 3 (state): utime is field 14 = f[11], stime field 15 = f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc stat line has %d fields after the name", len(f))
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: /proc stat times %q %q", f[11], f[12])
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// procRSS returns a process's resident set size in bytes, from VmRSS in /proc/<pid>/status.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	return parseVmRSS(b)
}

func parseVmRSS(b []byte) (int64, error) { return parseStatusKB(b, "VmRSS") }

// procRSSAnon returns a process's anonymous resident memory in bytes (RssAnon: its heap and
// stacks, without the file pages it maps).
func procRSSAnon(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	return parseStatusKB(b, "RssAnon")
}

// parseStatusKB returns the field name of a /proc/<pid>/status file, given in kB, in bytes.
func parseStatusKB(b []byte, name string) (int64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, name+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("bench: malformed %s line %q", name, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: %s %q: %w", name, f[0], err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("bench: no %s line", name)
}

// procCPUList returns the CPUs a process may run on (Cpus_allowed_list in /proc/<pid>/status,
// such as "0-1" or "1"), or "" if it cannot be read; pid 0 is this process.
func procCPUList(pid int) string {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// selfCPU returns this process's user plus system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy returns the CPU time all cores have spent busy (user, nice, system, irq, softirq,
// steal), from the first line of /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system (idle iowait) irq softirq steal
		v, _ := strconv.ParseUint(f[i], 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// cpuSample is a reading of the CPU counters the bench reports, taken at the start and the end of
// a measurement window.
type cpuSample struct {
	at      time.Time
	server  time.Duration // zero without a server PID
	self    time.Duration
	machine time.Duration
}

// sampleCPU reads the counters; the server's CPU is the sum over serverPIDs (the nodes of a
// cluster; none or 0 without a server PID).
func sampleCPU(serverPIDs ...int) cpuSample {
	s := cpuSample{at: time.Now(), self: selfCPU(), machine: machineBusy()}
	for _, pid := range serverPIDs {
		if pid > 0 {
			c, _ := procCPU(pid)
			s.server += c
		}
	}
	return s
}

// cpuWindow is CPU use over a window, in percent of one core.
type cpuWindow struct {
	ServerPct float64 `json:"server_cpu_pct"`
	GenPct    float64 `json:"gen_cpu_pct"`
	OtherPct  float64 `json:"other_cpu_pct"`
}

func cpuBetween(a, b cpuSample) cpuWindow {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return cpuWindow{}
	}
	pct := func(d time.Duration) float64 { return round1(100 * d.Seconds() / wall) }
	srv, gen := b.server-a.server, b.self-a.self
	return cpuWindow{ServerPct: pct(srv), GenPct: pct(gen), OtherPct: pct(b.machine - a.machine - srv - gen)}
}

// raiseFileLimit lifts the soft limit on open files to the hard limit, so that thousands of
// sockets fit; a server spawned by the bench inherits it.
func raiseFileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	return r.Cur
}

func round1(v float64) float64 { return float64(int64(v*10+copysignHalf(v))) / 10 }
func round2(v float64) float64 { return float64(int64(v*100+copysignHalf(v))) / 100 }

func copysignHalf(v float64) float64 {
	if v < 0 {
		return -0.5
	}
	return 0.5
}
