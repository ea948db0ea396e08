// Package layout holds the test that keeps the project's dependency direction: crdt, protocol and
// storage know nothing of the server, and nothing but cmd imports the server.
package layout

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tandemhq/tandem"

// forbidden lists, for each package of ours, the packages of ours it must never reach (directly or not).
var forbidden = map[string][]string{
	"crdt":      {"protocol", "storage", "server", "client", "auth", "cmd/tandem"},
	"protocol":  {"crdt", "storage", "server", "client", "auth", "cmd/tandem"},
	"storage":   {"crdt", "protocol", "server", "client", "auth", "cmd/tandem"},
	"auth":      {"server", "client", "cmd/tandem"},
	"client":    {"server", "storage", "cmd/tandem"},
	"client-js": {"crdt", "protocol", "storage", "server"},
}

// impure lists packages outside the standard library and ours that a package must not import.
var thirdPartyAllowed = map[string][]string{
	"crdt":     {},
	"protocol": {},
}

type pkg struct {
	ImportPath string
	Deps       []string
	Standard   bool
}

func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Deps,Standard", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := map[string]bool{}
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		seen[rel] = true
		for _, dep := range p.Deps {
			if !strings.HasPrefix(dep, module+"/") {
				if allowed, ok := thirdPartyAllowed[rel]; ok && strings.Contains(strings.SplitN(dep, "/", 2)[0], ".") {
					if !hasPrefixAny(dep, allowed) {
						t.Errorf("%s imports third-party package %s; it must stay dependency-free", rel, dep)
					}
				}
				continue
			}
			depRel := strings.TrimPrefix(dep, module+"/")
			for _, bad := range forbidden[rel] {
				if depRel == bad || strings.HasPrefix(depRel, bad+"/") {
					t.Errorf("%s depends on %s; the dependency direction forbids it", rel, depRel)
				}
			}
			if (depRel == "server" || strings.HasPrefix(depRel, "server/")) && !strings.HasPrefix(rel, "server") && !strings.HasPrefix(rel, "cmd/") {
				t.Errorf("%s imports %s; only cmd may import the server", rel, depRel)
			}
		}
	}
	for _, want := range []string{"crdt", "protocol", "storage", "server", "cmd/tandem"} {
		if !seen[want] {
			t.Logf("package %s not found (not written yet?)", want)
		}
	}
}

func hasPrefixAny(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
