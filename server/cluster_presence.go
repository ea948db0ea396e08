package server

import (
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/tandemhq/tandem/server/internal/relay"
)

// Presence across the nodes of a cluster (docs/cluster.md, "Presence across nodes"): a cluster
// node relays its editors' awareness states to the other nodes over core NATS, and theirs to its
// editors, through one relay.Relay. The actors' side is in actor_presence.go.

// startPresence starts the node's presence relay on conn, under node ID node and subject prefix
// prefix. It must be called before the server serves (the actors read s.relay without a lock).
func (s *Server) startPresence(conn *nats.Conn, node, prefix string) error {
	r, err := relay.New(relay.Config{
		Conn:   conn,
		Node:   node,
		Prefix: prefix,
		Limits: relay.Limits{
			MaxClientsPerNode: s.cfg.MaxConnsPerDocument,
			MaxStateBytes:     s.cfg.MaxAwarenessBytes,
		},
		Logger: s.log,
	})
	if err != nil {
		return fmt.Errorf("server: presence: %w", err)
	}
	s.relay = r
	s.metrics.reg.NewGaugeFunc("tandem_presence_nodes",
		"Other cluster nodes whose presence heartbeat is recent (their editors' cursors are shown here).",
		func() int64 { return int64(r.Nodes()) })
	s.metrics.reg.NewGaugeFunc("tandem_presence_dropped_messages",
		"Presence messages to other nodes not sent since start: the queue was full or NATS refused them (presence is at most once).",
		func() int64 { return int64(r.Dropped()) })
	s.metrics.reg.NewGaugeFunc("tandem_presence_refused_messages",
		"Presence messages from other nodes ignored since start: malformed, or from nodes beyond the limit.",
		func() int64 { return int64(r.Refused()) })
	return nil
}

// stopPresence says goodbye to the other nodes, whose editors drop this node's cursors at once.
// The actors have exited (each closed its document's relay).
func (s *Server) stopPresence() {
	if s.relay != nil {
		s.relay.Close()
	}
}
