package server

import (
	"sync/atomic"
	"time"
)

// storageTimes forwards the storage writer's timings (storage.Options.ObserveSync and
// ObserveApply) to the server's metrics, which exist only once the store is open.
type storageTimes struct{ m atomic.Pointer[serverMetrics] }

func (t *storageTimes) sync(took time.Duration, appends int) {
	if m := t.m.Load(); m != nil {
		m.commitSyncSecs.ObserveDuration(took)
		m.commitGroup.Observe(float64(appends))
	}
}

func (t *storageTimes) apply(took time.Duration) {
	if m := t.m.Load(); m != nil {
		m.commitApplySecs.ObserveDuration(took)
	}
}
