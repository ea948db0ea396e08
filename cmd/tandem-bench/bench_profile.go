package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// profiler writes the generator's CPU profile (--cpuprofile) over a span of the run: the
// measurement window in latency mode, so that connecting and the grace period stay out of it.
type profiler struct {
	path string
	f    *os.File
}

// start begins profiling; without a path it does nothing.
func (p *profiler) start() error {
	if p.path == "" || p.f != nil {
		return nil
	}
	f, err := os.Create(p.path)
	if err != nil {
		return fmt.Errorf("bench: --cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("bench: --cpuprofile: %w", err)
	}
	p.f = f
	return nil
}

// stop ends profiling and closes the file; it is safe to call when start was not.
func (p *profiler) stop() error {
	if p.f == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := p.f.Close()
	p.f = nil
	if err != nil {
		return fmt.Errorf("bench: --cpuprofile: %w", err)
	}
	return nil
}
