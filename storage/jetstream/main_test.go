package jetstream

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tandemhq/tandem/storage/backend"
	"github.com/tandemhq/tandem/storage/jetstream/natstest"
)

// cluster is the three-server JetStream cluster every test of the package shares: forming one
// takes about two seconds. Tests name their own resources (natstest.Prefix), and a test that stops
// servers restarts them before it ends (restoreCluster).
var cluster *natstest.Cluster

func TestMain(m *testing.M) { os.Exit(natstest.RunShared(m, 3, &cluster)) }

// connect connects to the given servers (all of them if none), reconnecting forever.
func connect(t testing.TB, urls ...string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	url := cluster.URLs()
	if len(urls) > 0 {
		url = strings.Join(urls, ",")
	}
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatalf("nats.Connect(%s): %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	return nc, js
}

// openBackend opens the resources under prefix, retrying with short attempts: right after a
// cluster forms or a server returns, the first requests may go unanswered.
func openBackend(t testing.TB, js jetstream.JetStream, prefix string) *Backend {
	t.Helper()
	return openBackendConfig(t, js, Config{Prefix: prefix})
}

// openBackendConfig is openBackend with a whole configuration.
func openBackendConfig(t testing.TB, js jetstream.JetStream, cfg Config) *Backend {
	t.Helper()
	prefix := cfg.Prefix
	var last error
	for range 30 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		b, err := Open(ctx, js, cfg)
		cancel()
		if err == nil {
			return b
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("Open(%s): %v", prefix, last)
	return nil
}

// appendRetry appends until JetStream acknowledges, with attempts of two seconds for at most a
// minute, as a node would while the stream elects a leader. It returns the number of failed
// attempts.
func appendRetry(t testing.TB, l *Log, doc string, epoch uint64, data []byte) (seq uint64, failed int) {
	t.Helper()
	var last error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		seq, err := l.Append(ctx, doc, epoch, data)
		cancel()
		if err == nil {
			return seq, failed
		}
		failed++
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("Append(%q, %q): no acknowledgement after %d attempts: %v", doc, data, failed, last)
	return 0, failed
}

// readRetry reads the whole log, retrying for at most a minute: right after servers return, the
// stream may answer "temporarily unavailable" while its leader settles, and a node would retry.
func readRetry(t testing.TB, l *Log, doc string, epoch uint64) []backend.Entry {
	t.Helper()
	var last error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := l.Read(ctx, doc, epoch, 0, 0)
		cancel()
		if err == nil {
			return got
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("Read(%q): %v", doc, last)
	return nil
}

// restartAll restarts every stopped server and waits until the cluster is healthy.
func restartAll(t testing.TB) {
	t.Helper()
	for i := range cluster.Len() {
		if err := cluster.Restart(i); err != nil {
			t.Fatalf("restart server %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cluster.WaitReady(ctx); err != nil {
		t.Fatalf("cluster not healthy: %v", err)
	}
}

// restoreCluster restarts every stopped server when the test ends and waits until the cluster is
// healthy, so that the next test finds it whole.
func restoreCluster(t testing.TB) {
	t.Cleanup(func() {
		for i := range cluster.Len() {
			if err := cluster.Restart(i); err != nil {
				t.Errorf("restart server %d: %v", i, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cluster.WaitReady(ctx); err != nil {
			t.Errorf("cluster not healthy after the test: %v", err)
		}
	})
}
