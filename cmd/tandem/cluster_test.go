package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseServeCluster(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "cluster", args: []string{"--cluster", "nats://a:4222,nats://b:4222", "--node-id", "a"}},
		{name: "embedded", args: []string{"--embedded-nats", "--nats-peers", "nats-route://a:6222,nats-route://b:6222", "--node-id", "a"}},
		{name: "embedded alone", args: []string{"--embedded-nats", "--nats-replicas", "1", "--node-id", "a"}},
		{name: "no node id", args: []string{"--cluster", "nats://a:4222"}, wantErr: "--node-id"},
		{name: "both", args: []string{"--cluster", "nats://a:4222", "--embedded-nats", "--node-id", "a"}, wantErr: "exclude"},
		{name: "embedded without peers", args: []string{"--embedded-nats", "--node-id", "a"}, wantErr: "--nats-peers"},
		{name: "no replicas", args: []string{"--cluster", "nats://a:4222", "--node-id", "a", "--nats-replicas", "0"}, wantErr: "nats-replicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseServe(tc.args, func(string) string { return "" }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseServe(%q) error = %v; want one containing %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseServe(%q) = %v", tc.args, err)
			}
			if !o.cluster.enabled() || o.cluster.nodeID != "a" {
				t.Errorf("parseServe(%q): cluster options %+v", tc.args, o.cluster)
			}
		})
	}
}

// TestEntryKey: the key a node signs its log entries with is --nats-entry-key (or its variable)
// when given, else derived from --auth-secret, the same on every node that shares it and not the
// secret itself; without either, entries are not signed; a short key is refused.
func TestEntryKey(t *testing.T) {
	const (
		secret = "0123456789abcdef0123456789abcdef"
		key    = "an entry key of thirty-two bytes or more"
	)
	derived := entryKeyFrom([]byte(secret))
	if len(derived) != 32 || string(derived) == secret || string(derived) != string(entryKeyFrom([]byte(secret))) {
		t.Fatalf("entryKeyFrom(secret) = %x: want 32 bytes, the same each time, not the secret", derived)
	}
	if string(entryKeyFrom([]byte(secret+"!"))) == string(derived) {
		t.Fatal("entryKeyFrom gives two secrets one key")
	}
	cluster := []string{"--cluster", "nats://a:4222", "--node-id", "a"}
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr string
	}{
		{name: "none", args: cluster, want: ""},
		{name: "flag", args: append([]string{"--nats-entry-key", key}, cluster...), want: key},
		{name: "variable", args: cluster, env: map[string]string{"TANDEM_NATS_ENTRY_KEY": key}, want: key},
		{name: "derived", args: cluster, env: map[string]string{"TANDEM_AUTH_SECRET": secret}, want: string(derived)},
		{name: "given beats derived", args: append([]string{"--nats-entry-key", key}, cluster...), env: map[string]string{"TANDEM_AUTH_SECRET": secret}, want: key},
		{name: "short", args: append([]string{"--nats-entry-key", "short"}, cluster...), wantErr: "at least 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseServe(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseServe error = %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(o.cluster.entryKey) != tc.want {
				t.Errorf("entry key %x; want %x", o.cluster.entryKey, tc.want)
			}
		})
	}
}

// freeAddrs returns n loopback addresses whose ports were free a moment ago.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		l.Close()
	}
	return addrs
}

// TestServeEmbeddedCluster runs three tandem processes with --embedded-nats, routed to each
// other: each becomes ready, an edit made over HTTP on one is read on the others, and SIGTERM
// stops each with status 0.
func TestServeEmbeddedCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes with NATS servers")
	}
	dir := t.TempDir()
	clients, routes := freeAddrs(t, 3), freeAddrs(t, 3)
	var peers []string
	for _, r := range routes {
		peers = append(peers, "nats-route://"+r)
	}
	children := make([]*child, 3)
	for i := range children {
		id := fmt.Sprintf("n%d", i)
		children[i] = startChild(t, "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, id+".db"),
			"--embedded-nats", "--node-id", id, "--nats-listen", clients[i], "--nats-cluster-listen", routes[i],
			"--nats-peers", strings.Join(peers, ","), "--nats-store", filepath.Join(dir, id+"-nats"),
			"--nats-entry-key", "the-nodes-entry-key-of-32-bytes-or-more")
	}
	bases := make([]string, 3)
	for i, c := range children {
		bases[i] = c.url(t, 90*time.Second)
	}
	for i, base := range bases {
		// Ready once JetStream's leaders answer, which may follow the start by a moment.
		for deadline := time.Now().Add(30 * time.Second); getStatus(t, base+"/readyz") != http.StatusOK; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("node %d /readyz not 200 after 30 s; stderr: %s", i, children[i].stderr)
			}
		}
	}
	resp, err := http.Post(bases[0]+"/v1/docs/spread/edits", "application/json", strings.NewReader(`{"root":"body","edits":[{"index":0,"insert":"from n0"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST edits on node 0: %d", resp.StatusCode)
	}
	for i, base := range bases[1:] {
		var sum struct {
			Texts map[string]string `json:"texts"`
		}
		resp, err := http.Get(base + "/v1/docs/spread")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&sum)
		resp.Body.Close()
		if err != nil || sum.Texts["body"] != "from n0" {
			t.Errorf("node %d reads %q (%v); want \"from n0\"", i+1, sum.Texts["body"], err)
		}
	}
	// All three at once: stopped one after another, the last is left without a JetStream
	// quorum (three replicas) for the saves its shutdown makes, and gives up on them (an
	// operator's rolling restart brings each node back before it stops the next).
	for _, c := range children {
		c.signal(t)
	}
	for i, c := range children {
		if err := c.wait(t, 30*time.Second); err != nil {
			t.Errorf("node %d after SIGTERM: %v; want status 0 (stderr: %s)", i, err, c.stderr)
		}
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestEmbeddedNATSSyncAlways: the embedded server syncs every write before acknowledging it.
func TestEmbeddedNATSSyncAlways(t *testing.T) {
	o := clusterOptions{nodeID: "solo", listen: freeAddrs(t, 1)[0], storeDir: t.TempDir(), replicas: 1}
	ns, err := startEmbeddedNATS(o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	cfg := ns.JetStreamConfig()
	if cfg == nil || !cfg.SyncAlways {
		t.Fatalf("embedded JetStream config %+v; want SyncAlways", cfg)
	}
}
