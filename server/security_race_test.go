//go:build race

package server

// raceEnabled reports whether the race detector is on: it slows the server five to ten times, so
// latency criteria measured against a baseline are checked without it only.
const raceEnabled = true
