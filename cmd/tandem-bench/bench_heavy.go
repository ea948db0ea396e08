package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/storage"
)

// heavyResult is the JSON result of --mode heavy.
type heavyResult struct {
	Label        string  `json:"label,omitempty"`
	Proto        string  `json:"proto"`
	Mode         string  `json:"mode"`
	UpdateBytes  int     `json:"update_bytes"`
	TargetBytesS float64 `json:"target_bytes_s"`
	WrittenBytes int64   `json:"written_bytes"`
	Updates      int     `json:"updates"`
	WriteS       float64 `json:"write_s"`
	AckedBytesS  float64 `json:"acked_bytes_s"`
	Chars        int     `json:"chars"`
	// What the server stored, read from the data file once it stopped.
	FileBytes     int64   `json:"file_bytes"`
	SnapshotBytes int64   `json:"snapshot_bytes"`
	LogBytes      int64   `json:"log_bytes"`
	LogEntries    int     `json:"log_entries"`
	FileRatio     float64 `json:"file_ratio"` // file / (snapshot + log)
	// WALBytes is the size of the write-ahead log's file beside the data file (FILE-wal), and
	// DiskRatio the two files together against the document.
	WALBytes  int64   `json:"wal_bytes"`
	DiskRatio float64 `json:"disk_ratio"` // (file + write-ahead log) / (snapshot + log)
	// CompactedBytes is the size of a copy of the file holding only live pages (storage.CompactFile,
	// what tandem compact does).
	CompactedBytes int64 `json:"compacted_bytes"`
	// The restarted server's RSS before and after one reader loaded the document, and the growth
	// against the document's stored size.
	RSSBeforeMB float64 `json:"rss_before_mb"`
	RSSLoadedMB float64 `json:"rss_loaded_mb"`
	ReloadRatio float64 `json:"reload_ratio"` // (loaded - before) / (snapshot + log)
	// The anonymous part of the growth (RssAnon: the heap, without the data file's pages that
	// the load mapped in).
	AnonGrowthMB float64 `json:"anon_growth_mb"`
	ContentOK    bool    `json:"content_ok"`
}

// benchHeavy measures what heavy writing leaves behind: one writer sends --write-rate bytes a
// second of text, in updates of --update-bytes inserted at random places, into one document for
// --duration, and waits until all is acknowledged. The server is then stopped, its data file
// measured against the document it stores, and started again; one reader loads the document, and
// the server's RSS growth is compared with the document's size. It needs --spawn.
func benchHeavy(ctx context.Context, e *benchEnv) (*heavyResult, error) {
	o := e.o
	docID := docName(o.docPrefix, 0)
	writer, err := client.Dial(ctx, e.url, docID, client.Options{HandshakeTimeout: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("bench: writer: %w", err)
	}
	defer func() { writer.Close() }()
	rng := rand.New(rand.NewPCG(o.seed, 0x68656176))
	const letters = "abcdefghijklmnopqrstuvwxyz     \n"
	text := func() string {
		var b strings.Builder
		b.Grow(o.updateBytes)
		for range o.updateBytes {
			b.WriteByte(letters[rng.IntN(len(letters))])
		}
		return b.String()
	}
	period := time.Duration(float64(time.Second) * float64(o.updateBytes) / o.writeRate)
	e.logf("heavy: writing %.0f bytes/s in updates of %d bytes for %v", o.writeRate, o.updateBytes, o.duration)
	start := time.Now()
	res := &heavyResult{Label: o.label, Proto: "tandem", Mode: "heavy", UpdateBytes: o.updateBytes, TargetBytesS: o.writeRate}
	length := 0
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * period)
		if due.Sub(start) >= o.duration || ctx.Err() != nil {
			break
		}
		sleepUntil(ctx, due)
		s, pos := text(), rng.IntN(length+1)
		err := writer.Edit(func(d *crdt.Doc) error { return d.Text(benchRoot).Insert(pos, s) })
		if err != nil {
			return nil, fmt.Errorf("bench: update %d: %w", i, err)
		}
		length += len(s)
		res.Updates++
		res.WrittenBytes += int64(len(s))
		if i%32 == 31 { // at most ~32 updates in flight
			if err := writer.WaitSaved(ctx); err != nil {
				return nil, err
			}
		}
	}
	if err := writer.WaitSaved(ctx); err != nil {
		return nil, err
	}
	res.WriteS = round2(time.Since(start).Seconds())
	res.AckedBytesS = round1(float64(res.WrittenBytes) / time.Since(start).Seconds())
	content := writer.Text(benchRoot)
	res.Chars = len([]rune(content))
	writer.Close()
	e.logf("heavy: %d bytes in %d updates acknowledged in %.1f s", res.WrittenBytes, res.Updates, res.WriteS)

	path := e.spawned.dataPath
	if err := e.spawned.stop(15 * time.Second); err != nil {
		return nil, err
	}
	e.spawned = nil
	if err := heavyInspect(path, docID, filepath.Join(e.tmpDir, "inspect.db"), res); err != nil {
		return nil, err
	}
	e.logf("heavy: data file %d bytes for snapshot %d + log %d (%.2fx); write-ahead log %d bytes (%.2fx with it); compacted copy %d bytes",
		res.FileBytes, res.SnapshotBytes, res.LogBytes, res.FileRatio, res.WALBytes, res.DiskRatio, res.CompactedBytes)

	if err := e.start(ctx); err != nil {
		return nil, err
	}
	sleepUntil(ctx, time.Now().Add(2*time.Second))
	res.RSSBeforeMB = e.serverRSSMB()
	anon0, _ := procRSSAnon(e.pid)
	rd, err := client.Dial(ctx, e.url, docID, client.Options{HandshakeTimeout: 60 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("bench: reader: %w", err)
	}
	res.ContentOK = rd.Text(benchRoot) == content
	sleepUntil(ctx, time.Now().Add(2*time.Second))
	res.RSSLoadedMB = e.serverRSSMB()
	if anon1, err := procRSSAnon(e.pid); err == nil {
		res.AnonGrowthMB = round1(float64(anon1-anon0) / (1 << 20))
	}
	rd.Close()
	if stored := res.SnapshotBytes + res.LogBytes; stored > 0 {
		res.ReloadRatio = round2((res.RSSLoadedMB - res.RSSBeforeMB) * (1 << 20) / float64(stored))
	}
	e.logf("heavy: reload RSS %.1f -> %.1f MiB (%.2fx the stored document; %.1f MiB of it anonymous); content identical %t",
		res.RSSBeforeMB, res.RSSLoadedMB, res.ReloadRatio, res.AnonGrowthMB, res.ContentOK)
	if !res.ContentOK {
		return res, fmt.Errorf("bench: the reader's text differs from the writer's")
	}
	return res, nil
}

// heavyInspect fills res with the data file's size, its write-ahead log's, what the document
// stores, and the size of a compacted copy. It reads a copy of the file (scratch, then removed): opening the file itself
// could migrate it to a layout the server under test does not read.
func heavyInspect(path, docID, scratch string, res *heavyResult) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	res.FileBytes = int64(len(data))
	if fi, err := os.Stat(path + "-wal"); err == nil {
		res.WALBytes = fi.Size()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(scratch, data, 0o600); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	data = nil
	defer os.Remove(scratch)
	st, err := storage.Open(scratch, storage.Options{NoSync: true})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	m, ok, err := st.Stat(docID)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if !ok {
		return fmt.Errorf("bench: document %q is not in %s", docID, path)
	}
	res.SnapshotBytes, res.LogBytes, res.LogEntries = m.SnapshotBytes, m.LogBytes, m.LogEntries
	if stored := m.SnapshotBytes + m.LogBytes; stored > 0 {
		res.FileRatio = round2(float64(res.FileBytes) / float64(stored))
		res.DiskRatio = round2(float64(res.FileBytes+res.WALBytes) / float64(stored))
	}
	_, res.CompactedBytes, err = storage.CompactFile(scratch, scratch+".compact", 0)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return os.Remove(scratch + ".compact")
}
