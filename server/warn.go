package server

import (
	"log/slog"
	"sync"
	"time"

	"github.com/tandemhq/tandem/server/internal/ratelimit"
)

// Refusal and eviction warnings are rate-limited: a flood of bad clients must not flood the log.
const (
	warnRate  = 1.0 // warnings per second, on average
	warnBurst = 20
)

// warner logs warnings at most warnRate per second (bursts of warnBurst); the ones it drops are
// counted, and the count rides on the next warning that gets through.
type warner struct {
	log *slog.Logger

	mu         sync.Mutex
	bucket     *ratelimit.Bucket
	suppressed int
}

func newWarner(log *slog.Logger) *warner {
	b, err := ratelimit.NewBucket(warnRate, warnBurst, time.Now())
	if err != nil {
		// The rate and burst are constants that NewBucket accepts.
		panic(err)
	}
	return &warner{log: log, bucket: b}
}

// warn logs msg at Warn level, unless the rate is exceeded.
func (w *warner) warn(log *slog.Logger, msg string, args ...any) {
	w.mu.Lock()
	if !w.bucket.Allow(time.Now()) {
		w.suppressed++
		w.mu.Unlock()
		return
	}
	n := w.suppressed
	w.suppressed = 0
	w.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	if log == nil {
		log = w.log
	}
	log.Warn(msg, args...)
}
