package storage

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// open-loop: 100 docs, rate appends/s, 64-byte entries, compaction at 1000 entries with a 20 KB snapshot
func TestZZTyping(t *testing.T) {
	s, _ := openTest(t, Options{MaxBatch: 1 << 16})
	const docs, rate, dur = 100, 5000, 8 * time.Second
	data := make([]byte, 40)
	snap := make([]byte, 20<<10)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	entries := make([]int, docs)
	start := time.Now()
	before := s.db.Stats()
	st0 := s.Stats()
	for i := 0; time.Since(start) < dur; i++ {
		due := start.Add(time.Duration(i) * time.Second / rate)
		time.Sleep(time.Until(due))
		d := i % docs
		doc := fmt.Sprintf("doc-%d", d)
		t0 := time.Now()
		wg.Add(1)
		entries[d]++
		if entries[d]%1000 == 0 {
			s.CompactAsync(doc, snap, 0, func(error) {})
		}
		s.Append(doc, data, func(seq uint64, err error) {
			mu.Lock()
			lat = append(lat, time.Since(t0))
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	after := s.db.Stats()
	st := s.Stats()
	diff := after.Sub(&before)
	commits := float64(st.Commits - st0.Commits)
	t.Logf("n %d p50 %v p99 %v max %v commits %.0f (%.1f/commit) writes/commit %.1f pages alloc/commit %.1f writeTime/commit %v spill/commit %v maxbatch %d",
		len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], commits, float64(st.Appends-st0.Appends)/commits,
		float64(diff.TxStats.GetWrite())/commits, float64(diff.TxStats.GetPageCount())/commits,
		diff.TxStats.GetWriteTime()/time.Duration(commits), diff.TxStats.GetSpillTime()/time.Duration(commits), st.MaxBatch)
}
