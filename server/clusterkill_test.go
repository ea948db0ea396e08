//go:build linux

package server_test

// The cluster's kill -9 test (issue 15, test 2): three NATS servers and three tandem nodes, each
// its own process, under a steady load of WebSocket editors and HTTP writers spread over the
// nodes. Each cycle kills one process with SIGKILL — a tandem node, or in the next cycle a NATS
// server — and starts it again; after each, every acknowledged edit is in a replica rebuilt from
// the stream alone, every node serves that replica byte for byte, and every editor converges to
// it. The harness is in clusterkill_harness_test.go.

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// killCyclesEnv names the variable that sets the number of kill cycles; `make test` runs
// defaultKillCycles, `make cluster-kill-long` twenty.
const (
	killCyclesEnv     = "TANDEM_CLUSTER_KILL_CYCLES"
	defaultKillCycles = 3
)

// TestClusterKill9: odd cycles kill a tandem node (0, 1, 2 in turn), even cycles a NATS server
// (the update stream's leader, then one of its followers, in turn); the killed process is started
// again with its node ID or its store. After the kill of a tandem node, the harness audits the
// stream before any of its editors may reconnect (an editor that reconnects sends again what the
// cluster lacks, which would hide a loss); after every cycle it quiesces the load and checks the
// lost-nothing, byte-identity, convergence and identity promises (settle).
func TestClusterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three NATS servers and three tandem nodes as processes")
	}
	cycles := defaultKillCycles
	if v := os.Getenv(killCyclesEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number of cycles", killCyclesEnv, v)
		}
		cycles = n
	}
	h := newKillHarness(t, "")
	for i := 1; i <= cycles; i++ {
		start := time.Now()
		turn := (i - 1) / 2
		var what string
		if i%2 == 1 {
			what = fmt.Sprintf("tandem node n%d", turn%killNodes)
			if loss := h.killTandem(i, turn%killNodes); loss != "" {
				t.Fatalf("cycle %d, %s", i, loss)
			}
		} else {
			what = h.killNATS(i, turn%2 == 0, turn/2)
		}
		h.settle(i)
		t.Logf("cycle %d (%s killed): %d edits so far, %d acknowledged over HTTP (this cycle: %s); all present, replicas identical, editors converged (%s)",
			i, what, h.ops.Load(), h.httpAckedCount(), h.cycleLatencies(), time.Since(start).Round(100*time.Millisecond))
	}
	h.finish()
}

// TestClusterKillHasTeeth runs the harness against a build whose nodes acknowledge an update
// before they hand it to JetStream (crashtest_ackearly, server/ackearly_on.go): it passes only
// if a SIGKILL of a tandem node loses an acknowledged edit that the audit finds. It builds a
// second binary, so it runs only with the long cycles (killCyclesEnv set, `make
// cluster-kill-long`).
func TestClusterKillHasTeeth(t *testing.T) {
	if testing.Short() || os.Getenv(killCyclesEnv) == "" {
		t.Skip("builds a second tandem binary; runs with " + killCyclesEnv + " set (make cluster-kill-long)")
	}
	h := newKillHarness(t, "crashtest_ackearly")
	for i := 1; i <= 10; i++ {
		if loss := h.killTandem(i, (i-1)%killNodes); loss != "" {
			t.Logf("the harness caught the loss in cycle %d: %s", i, loss)
			return
		}
	}
	t.Fatal("nodes that acknowledge before appending lost nothing the harness could see in 10 SIGKILL cycles: the cluster kill test has no teeth")
}

// natsdEnv carries a NATS server's configuration (natsdSpec as JSON) to the child process that
// runs it: TestClusterKillNATSServer in the test binary, started again by the harness.
const natsdEnv = "TANDEM_TEST_NATSD"

// natsdSpec is one NATS server of the harness: its name, ports, routes and store survive its
// restarts.
type natsdSpec struct {
	Name      string   `json:"name"`
	Port      int      `json:"port"`
	RoutePort int      `json:"routePort"`
	Routes    []string `json:"routes"`
	Store     string   `json:"store"`
}

// TestClusterKillNATSServer is not a test: in a child process started by the kill harness (with
// natsdEnv set) it runs a NATS server with JetStream, syncing every write, until it is killed.
// It prints "natsd listening" once it accepts connections and "natsd healthy" once JetStream
// reports healthy (its streams current); its log goes to stderr.
func TestClusterKillNATSServer(t *testing.T) {
	raw := os.Getenv(natsdEnv)
	if raw == "" {
		t.Skip("runs only as the kill harness's NATS server process")
	}
	var spec natsdSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatalf("%s: %v", natsdEnv, err)
	}
	o := &natsserver.Options{
		ServerName: spec.Name,
		Host:       "127.0.0.1",
		Port:       spec.Port,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   spec.Store,
		SyncAlways: true, // docs/cluster.md §4
		Cluster:    natsserver.ClusterOpts{Name: "tandem-kill", Host: "127.0.0.1", Port: spec.RoutePort},
	}
	for _, r := range spec.Routes {
		o.Routes = append(o.Routes, natsserver.RoutesFromStr(r)...)
	}
	ns, err := natsserver.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	ns.ConfigureLogger() // to stderr, which the harness keeps in the server's log file
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("not accepting connections after 30 s")
	}
	fmt.Println("natsd listening")
	for ns.Healthz(&natsserver.HealthzOptions{}).Status != "ok" {
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Println("natsd healthy")
	for { // until killed (by the harness, or with its parent: Pdeathsig)
		time.Sleep(time.Hour)
	}
}
