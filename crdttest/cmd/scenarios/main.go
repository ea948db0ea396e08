// Command scenarios writes seeded random CRDT scenarios, with the expected
// output of the Go implementation, one file per seed, for the cross-language
// test: go run ./crdttest/cmd/scenarios -seeds 1-100 -dir DIR. With -rich they
// also embed, format and set attributes, and print spans (random-rich-SEED.txt).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tandemhq/tandem/crdttest"
)

func main() {
	seeds := flag.String("seeds", "1-100", "seeds: N or FIRST-LAST")
	dir := flag.String("dir", ".", "directory to write random-SEED.txt files into")
	steps := flag.Int("steps", 0, "random commands per scenario (0: default)")
	rich := flag.Bool("rich", false, "add embeds, marks and attributes (random-rich-SEED.txt)")
	flag.Parse()
	first, last, err := parseRange(*seeds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scenarios:", err)
		os.Exit(2)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "scenarios:", err)
		os.Exit(1)
	}
	for s := first; s <= last; s++ {
		text := crdttest.RandomScenario(s, crdttest.RandomOptions{Steps: *steps, Rich: *rich})
		name := filepath.Join(*dir, fmt.Sprintf("random-%d.txt", s))
		if *rich {
			name = filepath.Join(*dir, fmt.Sprintf("random-rich-%d.txt", s))
		}
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "scenarios:", err)
			os.Exit(1)
		}
	}
}

func parseRange(s string) (first, last uint64, err error) {
	a, b, ok := strings.Cut(s, "-")
	if first, err = strconv.ParseUint(a, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("bad -seeds %q", s)
	}
	last = first
	if ok {
		if last, err = strconv.ParseUint(b, 10, 64); err != nil || last < first {
			return 0, 0, fmt.Errorf("bad -seeds %q", s)
		}
	}
	return first, last, nil
}
