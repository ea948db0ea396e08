//go:build !race

package server

// raceEnabled reports whether the race detector is on (see security_race_test.go).
const raceEnabled = false
