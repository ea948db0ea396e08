// Package natstest runs a clustered NATS JetStream in the test process: servers on loopback ports,
// file storage in a directory the caller owns, every write synced before it is acknowledged.
//
// Forming a cluster (electing the JetStream meta leader) takes about two seconds, so a test
// package starts one in TestMain (RunShared is such a TestMain) and shares it; tests isolate
// themselves by naming their own streams and buckets. A test that stops servers restarts them
// before it ends.
//
// It imports the NATS server module, which only tests (and a later embedded mode) need; the
// storage/jetstream package itself depends on the client alone.
package natstest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a set of in-process NATS servers with JetStream, routed to each other on loopback.
// Its methods are safe for concurrent use.
type Cluster struct {
	mu      sync.Mutex
	opts    []*server.Options
	servers []*server.Server // nil while stopped
}

// Start starts n servers (n is 1 or at least 3) with JetStream file storage under dir, sync
// always, and waits until JetStream is ready on all of them or ctx ends. Its ports were free a
// moment before the servers bind them and another process may take one in between, so a start
// that fails is tried again with new ports (and a fresh directory under dir), three times in all.
func Start(ctx context.Context, dir string, n int) (*Cluster, error) {
	if n < 1 || n == 2 {
		return nil, fmt.Errorf("natstest: %d servers; want 1 or at least 3", n)
	}
	var err error
	for attempt := range 3 {
		var c *Cluster
		if c, err = start(ctx, filepath.Join(dir, fmt.Sprintf("start%d", attempt)), n); err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

// RunShared is a test package's TestMain for a cluster its tests share: it starts n servers in a
// temporary directory, stores the cluster in *c, runs the tests, then shuts the cluster down and
// removes the directory. It returns the exit status for os.Exit: m.Run's, or 1 (said on stderr)
// when the cluster does not form within a minute.
//
//	var cluster *natstest.Cluster
//
//	func TestMain(m *testing.M) { os.Exit(natstest.RunShared(m, 3, &cluster)) }
func RunShared(m *testing.M, n int, c **Cluster) int {
	dir, err := os.MkdirTemp("", "tandem-natstest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if *c, err = Start(ctx, dir, n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer (*c).Shutdown()
	return m.Run()
}

// Prefix returns a resource prefix of the test's own, for the streams and buckets it names on a
// shared cluster: the test's name with every character but ASCII letters and digits as '_', and
// six random characters.
func Prefix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())
	return "t_" + name + "_" + strings.ToLower(rand.Text()[:6])
}

// start is one attempt of Start.
func start(ctx context.Context, dir string, n int) (*Cluster, error) {
	clientPorts, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	routePorts, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	var routes []*url.URL
	for _, p := range routePorts {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	c := &Cluster{servers: make([]*server.Server, n)}
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			NoLog:      true,
			NoSigs:     true,
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			// Sync every write before it is acknowledged. The default (a sync every two minutes)
			// can lose acknowledged messages when several servers lose power (nats-server #7564).
			SyncAlways:         true,
			JetStreamMaxMemory: 64 << 20,
			JetStreamMaxStore:  1 << 30,
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "tandem-test", Host: "127.0.0.1", Port: routePorts[i]}
			o.Routes = routes
		}
		c.opts = append(c.opts, o)
	}
	for i := range n {
		if err := c.Restart(i); err != nil {
			c.Shutdown()
			return nil, err
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("natstest: reserve a port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// URLs returns the client URLs of all servers, comma-separated, for nats.Connect.
func (c *Cluster) URLs() string {
	var urls []string
	for _, o := range c.opts {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(urls, ",")
}

// URL returns server i's client URL.
func (c *Cluster) URL(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port) }

// Server returns server i, or nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i]
}

// Len returns the number of servers, running or not.
func (c *Cluster) Len() int { return len(c.opts) }

// Stop shuts server i down and waits until it has. Stopping a stopped server does nothing.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart starts server i again (or for the first time) with its name, ports and storage, and
// waits until it accepts connections. Restarting a running server does nothing.
func (c *Cluster) Restart(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.servers[i] != nil {
		return nil
	}
	o := *c.opts[i]
	s, err := server.NewServer(&o)
	if err != nil {
		return fmt.Errorf("natstest: server %s: %w", o.ServerName, err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("natstest: server %s not accepting connections after 10s", o.ServerName)
	}
	c.servers[i] = s
	return nil
}

// WaitReady waits until every running server reports JetStream healthy (the meta leader elected,
// its streams current), or ctx ends.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for {
		var bad error
		c.mu.Lock()
		for _, s := range c.servers {
			if s == nil {
				continue
			}
			if h := s.Healthz(&server.HealthzOptions{}); h.Status != "ok" {
				bad = fmt.Errorf("natstest: server %s: %s %s", s.Name(), h.Status, h.Error)
				break
			}
		}
		c.mu.Unlock()
		if bad == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(bad, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Shutdown stops every server.
func (c *Cluster) Shutdown() {
	for i := range c.servers {
		c.Stop(i)
	}
}

// StreamState returns what server i holds of the stream in the default account: the number of
// messages and the last sequence. ok is false while the server is stopped or holds no replica.
func (c *Cluster) StreamState(i int, stream string) (msgs, lastSeq uint64, ok bool) {
	s := c.Server(i)
	if s == nil {
		return 0, 0, false
	}
	a, err := s.JszAccount(&server.JSzOptions{Account: "$G", Streams: true})
	if err != nil {
		return 0, 0, false
	}
	for _, sd := range a.Streams {
		if sd.Name == stream {
			return sd.State.Msgs, sd.State.LastSeq, true
		}
	}
	return 0, 0, false
}
