package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/waitgroup"
)

// registry maps document IDs to their running actors: get-or-create under one mutex (never a
// write under a read lock). An actor that exits (idle unload, deletion, a fatal storage failure)
// first removes itself here, so that a later request starts a fresh actor, which loads the document
// from storage again. The mutex is never held while talking to an actor.
type registry struct {
	s *Server

	mu     sync.Mutex
	actors map[string]*actor
	closed bool // stopAll has begun: no new actors
	// stopping is closed when stopAll begins: an actor that takes no message (a failed load
	// waiting to run again) hears of the stop through it, not its inbox.
	stopping chan struct{}

	wg sync.WaitGroup // one per actor goroutine
}

func newRegistry(s *Server) *registry {
	return &registry{s: s, actors: make(map[string]*actor), stopping: make(chan struct{})}
}

// get returns the actor of document id, starting one if create is set and none runs. It returns
// nil (and no error) when none runs and create is not set, and ErrShuttingDown after stopAll.
func (r *registry) get(id string, create bool) (*actor, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrShuttingDown
	}
	if a := r.actors[id]; a != nil || !create {
		return a, nil
	}
	a := newActor(r.s, id)
	r.actors[id] = a
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		a.run()
	}()
	return a, nil
}

// intern returns id as a string that an open document shares, or a copy of it: a connection
// keeps its document's ID for its life, and the one the router gives is part of a longer string
// (the request's path).
func (r *registry) intern(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a := r.actors[id]; a != nil {
		return a.id
	}
	return strings.Clone(id)
}

// remove forgets a, if it is still the actor registered for its document.
func (r *registry) remove(a *actor) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.actors[a.id] == a {
		delete(r.actors, a.id)
	}
}

// open returns the number of running actors.
func (r *registry) open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.actors)
}

// stopAll refuses new actors, tells every running one to stop (each finishes its pending writes
// and saves a snapshot) and waits for them, or for ctx.
func (r *registry) stopAll(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		close(r.stopping)
	}
	r.closed = true
	actors := make([]*actor, 0, len(r.actors))
	for _, a := range r.actors {
		actors = append(actors, a)
	}
	r.mu.Unlock()
	for _, a := range actors {
		if err := a.post(ctx, stopMsg{}); err != nil && !errors.Is(err, errActorGone) {
			return fmt.Errorf("server: stopping document %q: %w", a.id, err)
		}
	}
	if err := waitgroup.Wait(ctx, &r.wg); err != nil {
		return fmt.Errorf("server: waiting for %d documents to stop: %w", r.open(), err)
	}
	return nil
}

// maxActorAttempts bounds how often a request retries with a fresh actor when the one it found
// exited under it (an idle unload racing with a new connection).
const maxActorAttempts = 5

// call sends the request that build makes (carrying reply) to the actor of document id, starting
// one if create is set, and waits for the answer. When the actor exits before it answers, call
// retries with a fresh actor. It returns errNotOpen when create is not set and no actor runs.
func call[T any](ctx context.Context, r *registry, id string, create bool, build func(reply chan T) message) (T, *actor, error) {
	var zero T
	for range maxActorAttempts {
		a, err := r.get(id, create)
		if err != nil {
			return zero, nil, err
		}
		if a == nil {
			return zero, nil, errNotOpen
		}
		reply := make(chan T, 1)
		if err := a.post(ctx, build(reply)); err != nil {
			if errors.Is(err, errActorGone) {
				continue
			}
			return zero, nil, err
		}
		select {
		case v := <-reply:
			if isRetry(v) {
				continue
			}
			return v, a, nil
		case <-a.done:
			// The actor may have answered just before exiting.
			select {
			case v := <-reply:
				if !isRetry(v) {
					return v, a, nil
				}
			default:
			}
			continue
		case <-ctx.Done():
			return zero, nil, ctx.Err()
		}
	}
	return zero, nil, errDocUnavailable
}

// retryable is implemented by replies that can say "I exited: ask a fresh actor".
type retryable interface{ retry() bool }

func isRetry(v any) bool {
	if r, ok := v.(retryable); ok {
		return r.retry()
	}
	if err, ok := v.(error); ok {
		return errors.Is(err, errRetry)
	}
	return false
}

// join joins connection c to its document's actor, answering hello h.
func (r *registry) join(ctx context.Context, c *conn, h *protocol.Hello) (*actor, error) {
	err, a, cerr := call(ctx, r, c.docID, true, func(reply chan error) message {
		return joinMsg{c: c, hello: h, reply: reply}
	})
	if cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}
