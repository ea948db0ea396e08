package crdttest

import (
	"encoding/hex"
	"strings"
	"testing"
)

// TestSimScenario checks that a run recorded as a scenario replays to the
// same final state as the run itself.
func TestSimScenario(t *testing.T) {
	s := NewSim(3, SimOptions{Steps: 60, Shuffle: true, Script: true})
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	src := s.Scenario("test")
	sc, err := ParseScenario(src)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sc.Run()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(out, "\n") != strings.Join(sc.Expected, "\n") {
		t.Fatal("the scenario does not reproduce its own output")
	}
	snap := out[len(out)-1]
	want := "snapshot r4: " + hex.EncodeToString(s.Docs[4].EncodeSnapshot())
	if snap != want {
		t.Errorf("last line %q; want %q", snap, want)
	}
}
