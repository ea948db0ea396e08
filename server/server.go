package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	clientjs "github.com/tandemhq/tandem/client-js"
	"github.com/tandemhq/tandem/server/internal/relay"
	"github.com/tandemhq/tandem/server/internal/transport"
	"github.com/tandemhq/tandem/server/internal/wsframe"
	"github.com/tandemhq/tandem/storage"
)

// Server is a tandem server: the HTTP API, the WebSocket endpoint and the document actors, over
// one storage file. Create it with New, serve it with Serve (or mount Handler in an http.Server of
// your own), and stop it with Shutdown.
type Server struct {
	cfg     Config
	log     *slog.Logger
	warns   *warner // rate-limited Warn for refusals and evictions
	store   docStore
	metrics *serverMetrics
	docs    *registry
	// hub is the WebSocket transport: handshakes, sockets, frames, send queues, keepalive and the
	// close handshake of every connection (server/internal/transport).
	hub *transport.Hub
	// partial bounds the memory of the messages being received, over every connection
	// (Config.MaxPartialMessageBytes); the readers' configurations share it.
	partial *wsframe.Budget
	sec     *security      // security: tokens, per-subject connections (auth.go, limits.go)
	pending *pendingBudget // the server-wide budget of pending units (pending.go)
	changes *notifier      // hands the documents' events to Hooks.Observe; nil without one (observe.go)
	mem     *memRelease    // returns the heap's free memory after large loads (memrelease.go)
	relay   *relay.Relay   // cluster: presence across nodes; nil on a single node (cluster_presence.go)
	cluster *clusterStore  // the cluster node's store; nil on a single node (cluster.go)
	handler http.Handler

	// mu guards the fields below it. It is never held while sending to an actor.
	mu       sync.Mutex
	closing  bool                      // Shutdown has begun
	httpSrvs map[*http.Server]struct{} // servers started by Serve

	shutdownOnce sync.Once
	shutdownDone chan struct{}
	shutdownErr  error
}

// New opens the storage file named by cfg.DataPath (or uses cfg.Storage) and returns a server
// ready to serve. It fails if cfg is invalid (ErrInvalidConfig names the field) or the file cannot
// be opened (a file held by another process gives an error wrapping storage.ErrLocked after
// cfg.StorageLockTimeout).
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Cluster.enabled() {
		return newClusterServer(cfg)
	}
	if cfg.Storage.Log != nil {
		return newServer(cfg, newContractStore(cfg.Storage, 0))
	}
	times := new(storageTimes)
	st, err := storage.Open(cfg.DataPath, storage.Options{
		LockTimeout:   cfg.StorageLockTimeout,
		MaxBatchDelay: cfg.StorageMaxBatchDelay,
		NoSync:        cfg.StorageNoSync,
		ObserveSync:   times.sync,
		ObserveApply:  times.apply,
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s, err := newServer(cfg, st)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	times.m.Store(s.metrics)
	return s, nil
}

// newServer builds a server over an open store; cfg has its defaults. Tests use it to put a
// wrapper around the store. It fails if the revocations file cannot be read.
func newServer(cfg Config, st docStore) (*Server, error) {
	return newServerWith(cfg, st, newServerMetrics())
}

// newServerWith is newServer with the metrics the server registers its own in (a cluster node
// registers the cluster's first: cluster.go).
func newServerWith(cfg Config, st docStore, m *serverMetrics) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		cfg:          cfg,
		log:          log,
		warns:        newWarner(log),
		store:        st,
		metrics:      m,
		httpSrvs:     make(map[*http.Server]struct{}),
		shutdownDone: make(chan struct{}),
	}
	s.mem = newMemRelease(cfg.ReleaseMemoryAfterBytes, log, s.metrics.memoryReleases.Inc)
	s.pending = &pendingBudget{total: int64(cfg.MaxPendingBytesTotal), held: s.metrics.pendingBytes}
	s.docs = newRegistry(s)
	s.partial = wsframe.NewBudget(cfg.MaxPartialMessageBytes)
	s.metrics.reg.NewGaugeFunc("tandem_partial_message_bytes",
		"Memory held by incoming WebSocket messages that have begun to arrive and are not whole yet (bounded by MaxPartialMessageBytes).",
		s.partial.Used)
	s.hub = transport.New(s.transportConfig())
	sec, err := newSecurity(cfg) // security
	if err != nil {
		return nil, err
	}
	s.sec = sec
	s.warnIfOpen() // security
	s.handler = s.routes()
	// The observer's goroutine starts last, as nothing fails after it (observe.go).
	s.changes = newNotifier(cfg.Hooks, log, s.metrics)
	if cfg.StorageNoSync {
		log.Warn("storage fsync is off (StorageNoSync): acknowledged edits can be lost on power failure")
	}
	return s, nil
}

// routes builds the HTTP routes.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
	if !s.cfg.OmitMetricsRoute {
		r.Method(http.MethodGet, "/metrics", s.metrics.reg.Handler())
	}
	r.Route("/v1", func(r chi.Router) {
		s.apiRoutes(r)
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "not_found", "no such route")
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route")
		})
	})
	if !s.cfg.OmitDemoRoute {
		r.Handle("/*", http.FileServerFS(clientjs.Static()))
	}
	return r
}

// Handler returns the server's HTTP handler: the API under /v1, the WebSocket endpoint
// /v1/docs/{id}/ws, /healthz, /readyz, /metrics (unless Config.OmitMetricsRoute), and the demo
// editor at / (unless Config.OmitDemoRoute). Mounted on an application's router under a prefix,
// it wants the prefix stripped (http.StripPrefix, or chi's Mount), as the paths above are its own.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	if s.isClosing() {
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "server is shutting down")
		return
	}
	if s.cluster != nil && !s.cluster.node.canAppend() { // cluster.go
		writeError(w, http.StatusServiceUnavailable, "storage_unavailable", "JetStream does not answer: edits cannot be acknowledged")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Serve accepts connections on l and serves them until ctx ends or Shutdown is called. When ctx
// ends, Serve shuts the server down (bounded by Config.ShutdownTimeout) and returns once that is
// done, with Shutdown's error. When Shutdown is called by someone else, Serve returns after it
// completes. Any other error of the listener is returned as is (the server keeps running: call
// Shutdown).
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, // security
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,    // security
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = l.Close()
		return ErrShuttingDown
	}
	s.httpSrvs[srv] = struct{}{}
	s.mu.Unlock()

	errc := make(chan error, 1)
	go func() { errc <- s.serveHTTP(srv, l) }() // security: TLS when configured (limits.go)
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("server: serve %s: %w", l.Addr(), err)
		}
		<-s.shutdownDone
		return s.shutdownErr
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		err := s.Shutdown(sctx)
		<-errc
		return err
	}
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("server: listen: %w", err)
	}
	return s.Serve(ctx, l)
}

// Shutdown stops the server gracefully: it stops accepting connections and requests, closes every
// WebSocket with 1001 (going away), lets in-flight HTTP requests finish, stops every document actor
// (each waits for its pending writes and saves a snapshot), and closes the storage file, which
// commits what is queued. It returns when all that is done or ctx ends, whichever is first; the
// storage file is closed in either case.
//
// Shutdown is idempotent: a second call waits for the first one to finish (or for its own ctx)
// and returns the same result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.shutdownErr = s.shutdown(ctx)
		close(s.shutdownDone)
	})
	select {
	case <-s.shutdownDone:
		return s.shutdownErr
	case <-ctx.Done():
		return fmt.Errorf("server: shutdown: %w", ctx.Err())
	}
}

func (s *Server) shutdown(ctx context.Context) error {
	start := time.Now()
	s.log.Info("shutting down")
	s.mu.Lock()
	s.closing = true
	srvs := make([]*http.Server, 0, len(s.httpSrvs))
	for srv := range s.httpSrvs {
		srvs = append(srvs, srv)
	}
	s.mu.Unlock()

	// Stop the listeners and let in-flight HTTP requests finish; their actors are still running.
	var httpWG sync.WaitGroup
	httpErrs := make([]error, len(srvs))
	for i, srv := range srvs {
		httpWG.Add(1)
		go func() {
			defer httpWG.Done()
			httpErrs[i] = srv.Shutdown(ctx)
		}()
	}

	// Close every WebSocket with 1001 and wait for their goroutines.
	var errs []error
	if err := s.hub.Shutdown(ctx, wireError(errGoingAway)); err != nil {
		errs = append(errs, fmt.Errorf("server: shutdown: waiting for connections: %w", err))
	}
	httpWG.Wait()
	for _, err := range httpErrs {
		if err != nil {
			errs = append(errs, fmt.Errorf("server: shutdown: http: %w", err))
		}
	}

	// Stop the actors: each finishes its pending writes and saves.
	if err := s.docs.stopAll(ctx); err != nil {
		errs = append(errs, err)
	}
	s.mem.stop()
	s.stopPresence() // cluster: the other nodes drop this node's cursors now (cluster_presence.go)
	// The actors have ended: the observer gets what waits for it, then its goroutine ends.
	if err := s.changes.close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("server: shutdown: %w", err))
	}
	err := errors.Join(errs...)
	if err != nil {
		s.log.Error("shutdown incomplete", "err", err, "took", time.Since(start))
	} else {
		s.log.Info("shutdown complete", "took", time.Since(start))
	}
	return err
}

// transportConfig returns the settings of the server's transport (after withDefaults).
func (s *Server) transportConfig() transport.Config {
	cfg := s.cfg
	return transport.Config{
		SendQueueMessages: cfg.SendQueueMessages,
		SendQueueBytes:    cfg.SendQueueBytes,
		SendBufferBytes:   cfg.SendBufferBytes,
		WriteTimeout:      cfg.WriteTimeout,
		CloseTimeout:      cfg.CloseTimeout,
		PongWait:          cfg.PongWait,
		PresenceWait:      cfg.PresenceWait,
		MaxMessageBytes:   cfg.MaxMessageBytes,
		FrameStallTimeout: cfg.FrameStallTimeout,
		Partial:           s.partial,
		EnableCompression: cfg.EnableCompression, // security: off unless configured
		CheckOrigin: func(r *http.Request) bool {
			origin := r.Header.Get("Origin")
			return origin == "" || originAllowed(cfg.AllowedOrigins, origin, r.Host)
		},
		UpgradeError: upgradeError,
		Logger:       s.log,
		Handler:      (*hubSide)(s),
		Observer:     (*hubSide)(s),
	}
}
