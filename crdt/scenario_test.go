package crdt_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/crdttest"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/crdt/scenarios/*.txt")

const scenarioDir = "../testdata/crdt/scenarios"

// TestScenarios runs every scenario file and compares each output line with
// the expected one. With -update it rewrites the expected part instead.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(scenarioDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no scenario files in %s", scenarioDir)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := crdttest.ParseScenario(string(src))
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Run()
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(f, []byte(crdttest.Rewrite(string(src), got)), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !s.HasExpected {
				t.Fatalf("no %q line: run go test ./crdt -run TestScenarios -update", crdttest.Separator)
			}
			for i := 0; i < max(len(got), len(s.Expected)); i++ {
				var g, w string
				if i < len(got) {
					g = got[i]
				}
				if i < len(s.Expected) {
					w = s.Expected[i]
				}
				if g != w {
					t.Errorf("output line %d:\n got %s\nwant %s", i+1, g, w)
				}
			}
		})
	}
}
