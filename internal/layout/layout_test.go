// Package layout holds the test that keeps the project's dependency direction: crdt, protocol and
// storage know nothing of the server, and nothing but cmd imports the server. Storage backends
// know only the storage contract (storage/backend), a document's decisions (server/internal/room)
// know only the standard library, and only the JetStream backend and its test
// harness reach NATS: the client for the backend, the server for the harness alone. The load
// generator (cmd/tandem-bench) is a client of the server over the wire and never links it. The
// server's WebSocket transport (server/internal/transport) knows the wire's frames and close codes
// (protocol), the frame layer (server/internal/wsframe) and how to wait for its goroutines
// (server/internal/waitgroup), never the documents above it. The
// presence relay between cluster nodes (server/internal/relay) knows the NATS client and nothing
// of ours: awareness states are opaque bytes to it.
package layout

import (
	"encoding/json"
	"os/exec"
	"slices"
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
	// The load generator drives a server through its sockets only (its tests may run one in
	// process); it reads the data file of a server it has stopped, through storage.
	"cmd/tandem-bench":                   {"server", "auth"},
	"cmd/tandem-bench/internal/wsclient": {"server", "auth", "storage"},
}

// thirdPartyAllowed lists, for a package, the only packages outside the standard library and ours
// it may reach (directly or not); a package not listed may reach any.
var thirdPartyAllowed = map[string][]string{
	"crdt":                {},
	"protocol":            {},
	"storage/backend":     {},
	"storage/storagetest": {},
	// The handshake only; the frames after it are wsframe's.
	"server/internal/transport": {"github.com/gorilla/websocket"},
	// The commands' flag parsing: the standard library only.
	"cmd/internal/cliflag": {},
	// The document's decisions are values: the standard library only.
	"server/internal/room": {},
	// Presence between nodes: the NATS client and what it brings; never the NATS server.
	"server/internal/relay": {"github.com/nats-io/nats.go", "github.com/nats-io/nkeys", "github.com/nats-io/nuid",
		"github.com/klauspost/compress", "golang.org/x/crypto", "golang.org/x/sys"},
	// The NATS client and what it brings; never the NATS server.
	"storage/jetstream": {"github.com/nats-io/nats.go", "github.com/nats-io/nkeys", "github.com/nats-io/nuid",
		"github.com/klauspost/compress", "golang.org/x/crypto", "golang.org/x/sys"},
}

// thirdPartyForbidden lists, for a package, packages outside ours that it must never reach.
var thirdPartyForbidden = map[string][]string{
	// The single-node store stays free of NATS; the cluster backend lives in storage/jetstream.
	"storage": {"github.com/nats-io/"},
}

// oursAllowed lists, for a package, the only packages of ours it may reach (directly or not).
var oursAllowed = map[string][]string{
	"storage/backend":            {},
	"storage/storagetest":        {"storage/backend"},
	"storage/jetstream":          {"storage/backend"},
	"storage/jetstream/natstest": {},
	"server/internal/transport":  {"protocol", "server/internal/wsframe", "server/internal/waitgroup"},
	// What a document's actor decides knows nothing of the CRDT, the wire, sockets or storage:
	// the actor feeds it events and carries out its effects.
	"server/internal/room": {},
	// Presence between nodes carries awareness states as opaque bytes: no frames, no documents.
	"server/internal/relay":     {},
	"server/internal/waitgroup": {},
	// The commands' quiet flag parsing knows nothing of the commands.
	"cmd/internal/cliflag": {},
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
						t.Errorf("%s imports third-party package %s; only %q are allowed there", rel, dep, allowed)
					}
				}
				if hasPrefixAny(dep, thirdPartyForbidden[rel]) {
					t.Errorf("%s reaches %s; the dependency direction forbids it", rel, dep)
				}
				continue
			}
			depRel := strings.TrimPrefix(dep, module+"/")
			if allowed, ok := oursAllowed[rel]; ok && !slices.Contains(allowed, depRel) {
				t.Errorf("%s depends on %s; it may depend only on %q of ours", rel, depRel, allowed)
			}
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
	for _, want := range []string{"crdt", "protocol", "storage", "storage/backend", "storage/jetstream", "server", "server/internal/transport", "server/internal/room", "server/internal/relay", "cmd/tandem", "cmd/tandem-bench"} {
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
