package jetstream

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tandemhq/tandem/storage/backend"
	"github.com/tandemhq/tandem/storage/jetstream/natstest"
)

// metaLeader returns the index of the server leading the JetStream cluster's metadata.
func metaLeader(t *testing.T) int {
	t.Helper()
	for range 200 {
		for i := range cluster.Len() {
			if s := cluster.Server(i); s != nil && s.JetStreamIsLeader() {
				return i
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no server leads the JetStream metadata")
	return -1
}

// leaderOff moves the leadership of stream off server i, asking its leader to step down until
// another server leads it, and reports whether it did.
func leaderOff(t *testing.T, js jetstream.JetStream, stream string, i int) bool {
	t.Helper()
	for range 20 {
		if streamLeaderOf(t, js, stream) != i {
			return true
		}
		if _, err := js.Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 5*time.Second); err != nil {
			t.Logf("%s: leader stepdown: %v", stream, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return streamLeaderOf(t, js, stream) != i
}

// streamLeaderOf returns the index of the server leading stream.
func streamLeaderOf(t *testing.T, js jetstream.JetStream, stream string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	for i := range cluster.Len() {
		if s := cluster.Server(i); s != nil && s.Name() == info.Cluster.Leader {
			return i
		}
	}
	return -1
}

// TestReadsWithoutMetaLeader stops the server leading the JetStream cluster's metadata (leading
// neither the update stream nor the metadata bucket) and reads a log longer than the direct
// reads and the keys of the bucket: neither's consumer can be made until a new metadata leader is
// elected, and both go on through the streams' leaders (one entry a request; the bucket's
// subjects), returning everything within their contexts.
func TestReadsWithoutMetaLeader(t *testing.T) {
	restoreCluster(t)
	_, js := connect(t)
	b := openBackend(t, js, natstest.Prefix(t))
	var want []backend.Entry
	for i := range 5 * directReads {
		data := fmt.Appendf(nil, "e%d", i)
		seq, _ := appendRetry(t, (*Log)(b), "doc", 1, data)
		want = append(want, backend.Entry{Seq: seq, Data: data})
	}
	m := (*Meta)(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wantKeys := []string{"k.a", "k.b", "k.c"}
	for _, k := range append(slices.Clone(wantKeys), "k.gone", "other.x") {
		if _, err := m.Create(ctx, k, []byte("v")); err != nil {
			t.Fatalf("Create(%s): %v", k, err)
		}
	}
	if err := m.Delete(ctx, "k.gone"); err != nil {
		t.Fatal(err)
	}
	// The listing Keys falls back to, alone: values only, under the prefix only.
	fromStream, err := m.keysFromStream(ctx, "k.")
	if err != nil {
		t.Fatalf("keysFromStream: %v", err)
	}
	slices.Sort(fromStream)
	if !slices.Equal(fromStream, wantKeys) {
		t.Fatalf("keysFromStream(k.) = %q; want %q", fromStream, wantKeys)
	}
	meta := metaLeader(t)
	for _, stream := range []string{b.stream.CachedInfo().Config.Name, b.kvStream.CachedInfo().Config.Name} {
		if !leaderOff(t, js, stream, meta) {
			t.Skipf("%s stayed led by the metadata leader", stream)
		}
	}
	var urls []string
	for i := range cluster.Len() {
		if i != meta {
			urls = append(urls, cluster.URL(i))
		}
	}
	// The reader is connected to servers that stay up.
	_, rjs := connect(t, urls...)
	r := openBackend(t, rjs, b.prefix)
	cluster.Stop(meta)
	// Longer than a metadata leader's election; a read whose consumer waited for it failed
	// however long it was given.
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	start := time.Now()
	keys, err := (*Meta)(r).Keys(rctx, "k.")
	if err != nil {
		t.Fatalf("Keys with the metadata leader stopped: %v", err)
	}
	t.Logf("metadata leader (server %d) stopped: keys listed in %v", meta, time.Since(start).Round(time.Millisecond))
	slices.Sort(keys)
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("Keys(k.) = %q; want %q", keys, wantKeys)
	}
	start = time.Now()
	got, err := (*Log)(r).Read(rctx, "doc", 1, 0, 0)
	if err != nil {
		t.Fatalf("Read with the metadata leader (server %d) stopped: %v", meta, err)
	}
	t.Logf("%d entries read in %v", len(got), time.Since(start).Round(time.Millisecond))
	if !slices.EqualFunc(got, want, func(a, b backend.Entry) bool { return a.Seq == b.Seq && bytes.Equal(a.Data, b.Data) }) {
		t.Fatalf("read %v; want %v", seqs(got), seqs(want))
	}
}
