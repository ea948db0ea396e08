package room

import (
	"testing"
	"time"
)

func testSaveConfig() SaveConfig {
	return SaveConfig{CompactEntries: 3, CompactBytes: 1 << 20, Retries: 2, Backoff: time.Second, MaxBackoff: 3 * time.Second}
}

// TestSaverCompaction: the log compacts once past its threshold, folding only what is durable;
// appends in flight stay after the snapshot.
func TestSaverCompaction(t *testing.T) {
	s := NewSaver(testSaveConfig())
	var d Durability
	for range 3 {
		if s.WantCompact() {
			t.Fatalf("compaction wanted at %d entries; want it from 3", s.LogEntries())
		}
		d.Issue()
		s.Appended(10)
	}
	if !s.WantCompact() {
		t.Fatal("no compaction wanted at 3 entries")
	}
	d.Report(1, true)
	s.AppendReported(7, 10, true)
	d.Report(2, true)
	s.AppendReported(8, 10, true)
	info := s.Start(d.Issued(), 100)
	if want := (SaveInfo{Cover: 3, Upto: 8, Entries: 2, Bytes: 20, Size: 100}); info != want {
		t.Fatalf("Start = %+v; want %+v", info, want)
	}
	if s.WantCompact() || s.Request() {
		t.Fatal("a second save wanted while one is in flight")
	}
	d.Report(3, true)
	s.AppendReported(9, 10, true)
	d.Cover(info.Cover)
	if got, _ := s.Done(info, false, d.Gap()); got != SavedAgain {
		t.Fatalf("Done = %v; want SavedAgain (a save was requested meanwhile)", got)
	}
	if s.LogEntries() != 1 || s.DocBytes() != 110 || !s.Unsaved(false) {
		t.Fatalf("after the save: %d entries, %d bytes; want 1 entry (in flight at the save), 110 bytes", s.LogEntries(), s.DocBytes())
	}
}

// TestSaverFailures: a failed save is retried with doubling backoff, capped, then abandoned:
// kept if the log holds every update, fatal if it lacks one; an abandoned save holds
// compaction back until the log doubles.
func TestSaverFailures(t *testing.T) {
	tests := []struct {
		name string
		gap  bool
		want SaveOutcome
	}{
		{"log holds every update", false, AbandonKeep},
		{"log lacks an update", true, AbandonFatal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSaver(testSaveConfig())
			for range 3 {
				s.Appended(1)
			}
			var backoffs []time.Duration
			for {
				info := s.Start(3, 1)
				got, backoff := s.Done(info, true, tt.gap)
				if got != Retry {
					if got != tt.want {
						t.Fatalf("Done after %v = %v; want %v", backoffs, got, tt.want)
					}
					break
				}
				if !s.Retrying() || s.Request() {
					t.Fatal("a save may start while a retry waits")
				}
				backoffs = append(backoffs, backoff)
				s.RetryDue()
			}
			if want := []time.Duration{time.Second, 2 * time.Second}; len(backoffs) != 2 || backoffs[0] != want[0] || backoffs[1] != want[1] {
				t.Fatalf("backoffs = %v; want %v", backoffs, want)
			}
			if !s.Abandoned() || s.WantCompact() {
				t.Fatal("after an abandoned save: compaction still wanted at once")
			}
			for range 3 {
				s.Appended(1)
			}
			if !s.WantCompact() || s.Abandoned() {
				t.Fatal("compaction not wanted again once the log doubled")
			}
		})
	}
	t.Run("backoff capped", func(t *testing.T) {
		cfg := testSaveConfig()
		cfg.Retries = 10
		s := NewSaver(cfg)
		var last time.Duration
		for range 5 {
			_, last = s.Done(s.Start(0, 0), true, false)
			s.RetryDue()
		}
		if last != cfg.MaxBackoff {
			t.Fatalf("fifth backoff = %v; want the cap %v", last, cfg.MaxBackoff)
		}
	})
}
