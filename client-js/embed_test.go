package clientjs

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

func TestStaticServesDemoAndModules(t *testing.T) {
	s := Static()
	for _, name := range []string{"index.html", "src/provider.js", "src/bindings/textarea.js"} {
		if _, err := fs.Stat(s, name); err != nil {
			t.Errorf("Stat(%q) = %v; want the file", name, err)
		}
	}
	for _, name := range []string{"src/provider.test.js", "src/crdt/testdata", "demo/index.html", "../go.mod"} {
		if _, err := fs.Stat(s, name); err == nil {
			t.Errorf("Stat(%q) succeeded; want it hidden", name)
		}
	}
	if err := fstest.TestFS(s, "index.html", "src/provider.js"); err != nil {
		t.Fatalf("TestFS: %v", err)
	}
}

func TestStaticHidesTests(t *testing.T) {
	err := fs.WalkDir(Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".test.js") || strings.Contains(p, "testdata") {
			t.Errorf("WalkDir found %q; want tests hidden", p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("WalkDir: %v", err)
	}
}
