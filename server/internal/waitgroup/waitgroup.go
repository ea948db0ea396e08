// Package waitgroup waits for a sync.WaitGroup with a context's deadline: the server's shutdown
// waits so for its document actors, and the transport's for its connections. It imports nothing of
// ours.
package waitgroup

import (
	"context"
	"sync"
)

// Wait waits for wg or ctx, whichever comes first, and returns nil or ctx's error. When ctx wins,
// a goroutine stays behind until wg is done.
func Wait(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
