package crdttest

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestRandomScenarioConverges checks that every replica of a random scenario
// prints the same final state, nothing pending, and that the scenario text
// reproduces its own expected output.
func TestRandomScenarioConverges(t *testing.T) {
	n := uint64(100)
	if testing.Short() {
		n = 20
	}
	if v, err := strconv.Atoi(os.Getenv("TANDEM_SEEDS")); err == nil && v > 0 {
		n = uint64(v)
	}
	for seed := uint64(1); seed <= n; seed++ {
		// The final block: per replica, 3 texts, map, sv, pending, snapshot.
		checkRandomConverges(t, seed, RandomOptions{Steps: 120 + int(seed%5)*100}, 7)
	}
}

// checkRandomConverges runs the random scenario of seed and opts: it must reproduce its own
// expected output, and every replica must print the same final block (finalLines lines per
// replica) with nothing pending.
func checkRandomConverges(t *testing.T, seed uint64, opts RandomOptions, finalLines int) {
	t.Helper()
	src := RandomScenario(seed, opts)
	s, err := ParseScenario(src)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	got, err := s.Run()
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if strings.Join(got, "\n") != strings.Join(s.Expected, "\n") {
		t.Fatalf("seed %d: the scenario does not reproduce its output", seed)
	}
	final := map[string]string{}
	for _, l := range got[len(got)-finalLines*countReplicas(s):] {
		head, val, _ := strings.Cut(l, ": ")
		f := strings.Fields(head)
		key := f[0] + " " + strings.Join(f[2:], " ")
		if f[0] == "pending" && val != "0" {
			t.Errorf("seed %d: %s", seed, l)
		}
		if w, ok := final[key]; ok && w != val {
			t.Errorf("seed %d: %s: got %s, another replica has %s", seed, head, val, w)
		}
		final[key] = val
	}
}

func countReplicas(s *Scenario) int {
	n := 0
	for _, c := range s.Commands {
		if (c.Name == "replica" || c.Name == "load") && c.args[0].val != "bad" {
			n++
		}
	}
	return n
}

// TestRandomRichScenarioConverges is TestRandomScenarioConverges with
// embeds, marks and attributes: every replica prints the same final state,
// spans included.
func TestRandomRichScenarioConverges(t *testing.T) {
	n := uint64(60)
	if testing.Short() {
		n = 10
	}
	for seed := uint64(1); seed <= n; seed++ {
		// The final block: per replica, 3 texts, map, sv, pending, snapshot, 3 spans.
		checkRandomConverges(t, seed, RandomOptions{Steps: 120 + int(seed%5)*100, Rich: true}, 10)
	}
}
