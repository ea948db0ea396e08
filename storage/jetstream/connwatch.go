package jetstream

import (
	"context"
	"errors"
	"sync"

	"github.com/nats-io/nats.go"
)

// errConnLost ends a request's context when the connection it was sent on is lost.
var errConnLost = errors.New("jetstream: connection to the NATS server lost")

// connWatch numbers the lives of a NATS connection: a generation ends when the connection is
// lost (it starts reconnecting, or closes). A request whose answer would come back over the
// connection it was sent on is bound to the generation it was sent in, since an answer in flight
// when the connection drops is not delivered again on the next one: JetStream may have stored a
// published message whose acknowledgement is then lost, and the publish would wait out its
// whole context for nothing.
type connWatch struct {
	mu  sync.Mutex
	gen context.Context
	end context.CancelFunc
}

// watchConn follows nc's status until it closes. A nil nc gives a watch whose generation never
// ends.
func watchConn(nc *nats.Conn) *connWatch {
	w := &connWatch{}
	w.gen, w.end = context.WithCancel(context.Background())
	if nc == nil {
		return w
	}
	ch := nc.StatusChanged(nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	if nc.IsClosed() { // closed before the listener was registered: it hears nothing more
		nc.RemoveStatusListener(ch)
		w.lost()
		return w
	}
	go func() {
		defer nc.RemoveStatusListener(ch)
		for s := range ch {
			w.lost()
			if s == nats.CLOSED {
				return
			}
		}
	}()
	return w
}

// lost ends the current generation and starts the next.
func (w *connWatch) lost() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.end()
	w.gen, w.end = context.WithCancel(context.Background())
}

// bind returns a context that ends with ctx or when the connection's current generation ends,
// with cause errConnLost then, and its cancel function.
func (w *connWatch) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	w.mu.Lock()
	gen := w.gen
	w.mu.Unlock()
	bound, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(gen, func() { cancel(errConnLost) })
	return bound, func() {
		stop()
		cancel(context.Canceled)
	}
}
