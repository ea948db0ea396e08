package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tandemhq/tandem/server"
	"github.com/tandemhq/tandem/storage/jetstream"
)

// clusterOptions are the serve flags of a cluster node (docs/cluster.md).
type clusterOptions struct {
	urls     string // --cluster: the NATS servers
	nodeID   string
	embedded bool   // --embedded-nats
	peers    string // --nats-peers: the route URLs of the embedded servers
	listen   string // --nats-listen: the embedded server's client address
	routes   string // --nats-cluster-listen: its route address
	storeDir string // --nats-store
	prefix   string
	replicas int
	wait     time.Duration
	// entryKey signs the node's log entries (--nats-entry-key, else derived from --auth-secret:
	// entryKeyFrom); empty, they are not signed.
	entryKey []byte
}

func addClusterFlags(fs *flag.FlagSet, o *clusterOptions) {
	fs.StringVar(&o.urls, "cluster", "", "comma-separated NATS server URLs (nats://host:4222,...): run as a node of a cluster whose documents live in JetStream (docs/cluster.md)")
	fs.StringVar(&o.nodeID, "node-id", "", "this node's name in the cluster: letters, digits, '-' and '_', unique among the nodes (required with --cluster or --embedded-nats)")
	fs.BoolVar(&o.embedded, "embedded-nats", false, "run a NATS server with JetStream (sync always) inside this process and join the cluster through it")
	fs.StringVar(&o.peers, "nats-peers", "", "with --embedded-nats: comma-separated route URLs of the cluster's NATS servers (nats-route://host:6222,...), this one's included")
	fs.StringVar(&o.listen, "nats-listen", "127.0.0.1:4222", "with --embedded-nats: address of its client port")
	fs.StringVar(&o.routes, "nats-cluster-listen", ":6222", "with --embedded-nats: address of its route port, which the other servers reach")
	fs.StringVar(&o.storeDir, "nats-store", "./tandem-nats", "with --embedded-nats: directory of its JetStream storage")
	fs.StringVar(&o.prefix, "nats-prefix", "tandem", "prefix of the JetStream stream, KV bucket and object store, and of the subjects")
	fs.IntVar(&o.replicas, "nats-replicas", 3, "replicas of the stream, the KV bucket and the object store (3 survives the loss of one server; 1 for a single server)")
	fs.DurationVar(&o.wait, "nats-wait", time.Minute, "how long to wait at start for JetStream to answer (a cluster forming elects its leader first)")
	fs.Var(secret{&o.entryKey}, "nats-entry-key", "key, the same on every node and at least 32 bytes, that the nodes sign their log entries with, so that publish rights on the log's subjects are not enough to pass for a node (prefer TANDEM_NATS_ENTRY_KEY; empty: derived from --auth-secret, or none without it; docs/cluster.md)")
}

// minEntryKey is the shortest --nats-entry-key.
const minEntryKey = 32

// entryKeyFrom returns the entry key that nodes sharing the access tokens' key derive from it,
// so that a cluster with --auth-secret signs its entries without another setting: HMAC-SHA256
// under authSecret of a fixed label (the key itself never signs entries). Without authSecret it
// returns nil.
func entryKeyFrom(authSecret []byte) []byte {
	if len(authSecret) == 0 {
		return nil
	}
	m := hmac.New(sha256.New, authSecret)
	m.Write([]byte("tandem cluster entry key"))
	return m.Sum(nil)
}

// enabled reports whether the node runs in a cluster.
func (o clusterOptions) enabled() bool { return o.urls != "" || o.embedded }

// check refuses inconsistent cluster flags.
func (o clusterOptions) check() error {
	if !o.enabled() {
		return nil
	}
	switch {
	case o.urls != "" && o.embedded:
		return errors.New("--cluster and --embedded-nats exclude each other: the embedded server is the node's connection")
	case o.nodeID == "":
		return errors.New("--node-id is required in a cluster")
	case o.embedded && o.peers == "" && o.replicas > 1:
		return errors.New("--embedded-nats needs --nats-peers (or --nats-replicas 1 for a single server)")
	case o.replicas < 1:
		return fmt.Errorf("invalid value %d for -nats-replicas: want 1 or more", o.replicas)
	case len(o.entryKey) > 0 && len(o.entryKey) < minEntryKey:
		return fmt.Errorf("invalid -nats-entry-key: %d bytes, want at least %d", len(o.entryKey), minEntryKey)
	}
	return nil
}

// clusterNode is what a node opened: its NATS connection, its embedded server if any.
type clusterNode struct {
	nc  *nats.Conn
	ns  *natsserver.Server
	cfg server.Cluster
}

// close closes the connection, then stops the embedded server.
func (n *clusterNode) close() {
	n.nc.Close()
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
}

// openCluster starts the embedded NATS server (--embedded-nats) or connects to the cluster's
// (--cluster), then opens the JetStream backend, retrying until it answers or --nats-wait.
func openCluster(ctx context.Context, o clusterOptions, log *slog.Logger) (*clusterNode, error) {
	n := &clusterNode{}
	var err error
	if o.embedded {
		if n.ns, err = startEmbeddedNATS(o); err != nil {
			return nil, err
		}
		n.nc, err = nats.Connect("", nats.InProcessServer(n.ns), nats.Name("tandem "+o.nodeID), nats.MaxReconnects(-1))
	} else {
		n.nc, err = nats.Connect(o.urls, nats.Name("tandem "+o.nodeID), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.ReconnectWait(250*time.Millisecond))
	}
	if err != nil {
		n.closeServer()
		return nil, fmt.Errorf("nats: connect: %w", err)
	}
	if !o.embedded {
		checkSync(n.nc, log)
	}
	js, err := natsjs.New(n.nc)
	if err != nil {
		n.close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	deadline := time.Now().Add(o.wait)
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		b, err := jetstream.Open(actx, js, jetstream.Config{Prefix: o.prefix, Replicas: o.replicas, EntryKey: o.entryKey})
		cancel()
		if err == nil {
			n.cfg = server.Cluster{Conn: n.nc, Backend: b, NodeID: o.nodeID}
			return n, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			n.close()
			return nil, fmt.Errorf("JetStream did not answer within %s: %w", o.wait, err)
		}
		log.Info("waiting for JetStream", "err", err)
		time.Sleep(250 * time.Millisecond)
	}
}

func (n *clusterNode) closeServer() {
	if n.ns != nil {
		n.ns.Shutdown()
	}
}

// startEmbeddedNATS starts a NATS server with JetStream in the process: file storage under
// --nats-store, every write synced before it is acknowledged (sync always: the default, a sync
// every two minutes, can lose acknowledged messages when several servers lose power together,
// nats-server issue 7564), routed to --nats-peers.
func startEmbeddedNATS(o clusterOptions) (*natsserver.Server, error) {
	host, port, err := splitHostPort(o.listen)
	if err != nil {
		return nil, fmt.Errorf("invalid value %q for -nats-listen: %w", o.listen, err)
	}
	opts := &natsserver.Options{
		ServerName: o.nodeID,
		Host:       host,
		Port:       port,
		NoSigs:     true,
		NoLog:      true,
		JetStream:  true,
		StoreDir:   o.storeDir,
		SyncAlways: true,
	}
	if o.peers != "" {
		rhost, rport, err := splitHostPort(o.routes)
		if err != nil {
			return nil, fmt.Errorf("invalid value %q for -nats-cluster-listen: %w", o.routes, err)
		}
		opts.Cluster = natsserver.ClusterOpts{Name: "tandem", Host: rhost, Port: rport}
		opts.Routes = natsserver.RoutesFromStr(o.peers)
		if len(opts.Routes) == 0 {
			return nil, fmt.Errorf("invalid value %q for -nats-peers: want nats-route://host:port,...", o.peers)
		}
	}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("nats server: not accepting connections after 10s")
	}
	return ns, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// checkSync asks the NATS servers for their JetStream settings and warns about any that does not
// sync every write before acknowledging it. The request goes to the system account: a connection
// without its permissions gets no answer, and the node then warns that it could not check.
func checkSync(nc *nats.Conn, log *slog.Logger) {
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$SYS.REQ.SERVER.PING.VARZ", inbox, nil); err != nil {
		return
	}
	answered := 0
	for {
		m, err := sub.NextMsg(time.Second)
		if err != nil {
			break
		}
		var v struct {
			Server struct {
				Name string `json:"name"`
			} `json:"server"`
			Data struct {
				JetStream struct {
					Config struct {
						SyncAlways bool `json:"sync_always"`
					} `json:"config"`
				} `json:"jetstream"`
			} `json:"data"`
		}
		if json.Unmarshal(m.Data, &v) != nil {
			continue
		}
		answered++
		if !v.Data.JetStream.Config.SyncAlways {
			log.Warn("a NATS server does not sync every write before acknowledging it (sync_interval: always): acknowledged edits can be lost when several servers lose power together (docs/cluster.md)", "server", v.Server.Name)
		}
	}
	if answered == 0 {
		log.Warn("could not check the NATS servers' sync setting (the system account does not answer this connection): make sure they run with sync_interval: always (docs/cluster.md)")
	}
}
