package waitgroup

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestWait(t *testing.T) {
	tests := []struct {
		name    string
		pending int  // goroutines the group still waits for
		cancel  bool // whether the context is cancelled
		want    error
	}{
		{name: "group done", want: nil},
		{name: "group done later", pending: 1, want: nil},
		{name: "context cancelled first", pending: 1, cancel: true, want: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var wg sync.WaitGroup
			wg.Add(tt.pending)
			release := make(chan struct{})
			for range tt.pending {
				go func() {
					<-release
					wg.Done()
				}()
			}
			if tt.cancel {
				cancel()
			} else {
				close(release)
			}
			err := Wait(ctx, &wg)
			if tt.cancel {
				close(release)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Wait = %v; want %v", err, tt.want)
			}
			wg.Wait()
		})
	}
}
