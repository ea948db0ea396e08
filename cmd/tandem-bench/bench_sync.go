package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tandemhq/tandem/client"
	"github.com/tandemhq/tandem/crdt"
)

// syncResult is the JSON result of --mode sync, shaped like the anchors' bigsync.mjs rows.
type syncResult struct {
	Label        string  `json:"label,omitempty"`
	Proto        string  `json:"proto"`
	Pattern      string  `json:"pattern"`
	N            int     `json:"n"`
	Chars        int     `json:"chars"`
	Readers      int     `json:"readers"`
	ContentOK    int     `json:"content_ok"`
	Chunk        int     `json:"chunk"`
	WriteS       float64 `json:"write_s"`
	WriteOpsS    float64 `json:"write_ops_s"`
	WriteServerS float64 `json:"write_server_cpu_s"`
	SyncBytes    int     `json:"step2_bytes"`
	ServerRSSMB  float64 `json:"server_rss_loaded_mb"`
	// Cold is the first reader after the server restarted (--spawn) or unloaded the document
	// (--cold-wait): the sync includes loading the document from storage.
	Cold *syncTiming `json:"cold,omitempty"`
	// The warm readers: the document is in the server's memory.
	SyncTotalMsMedian   float64 `json:"sync_total_ms_median"`
	SyncTotalMsMin      float64 `json:"sync_total_ms_min"`
	SyncTotalMsMax      float64 `json:"sync_total_ms_max"`
	FirstByteMsMedian   float64 `json:"first_byte_ms_median"`
	ClientApplyMsMedian float64 `json:"client_apply_ms_median"`
	ServerCPUMsPerSync  float64 `json:"server_cpu_ms_per_sync"`
	OtherCPUPct         float64 `json:"other_cpu_pct_during_syncs"`
}

// syncTiming is one reader's initial sync: from the start of the dial to the sync message's
// arrival (first byte) and to the replica having applied it (total).
type syncTiming struct {
	TotalMs     float64 `json:"total_ms"`
	FirstByteMs float64 `json:"first_byte_ms"`
	ApplyMs     float64 `json:"apply_ms"`
	Bytes       int     `json:"bytes"`
	OK          bool    `json:"content_ok"`
}

// editScript is the document to build: a list of edits applied in order, chunk at a time.
type editScript struct {
	name  string
	edits []scriptEdit
	final string // expected text, when known in advance (traces)
}

type scriptEdit struct {
	pos, del int
	ins      string
}

// generatedScript reproduces the anchors' bigsync.mjs document exactly: the same LCG, the same
// letters, the same cursor rule, so that the text matches character for character.
func generatedScript(pattern string, n int, seed uint64) editScript {
	s := uint32(seed)
	rnd := func() float64 { s = s*1664525 + 1013904223; return float64(s) / 4294967296 }
	const letters = "abcdefghijklmnopqrstuvwxyz     \n"
	const jump = 0.05
	edits := make([]scriptEdit, 0, n)
	cursor, length := 0, 0
	for i := 0; i < n; i++ {
		switch {
		case pattern == "random":
			cursor = int(rnd() * float64(length+1))
		case pattern == "runs" && rnd() < jump:
			cursor = int(rnd() * float64(length+1))
		case pattern == "seq":
			cursor = length
		}
		if cursor > length {
			cursor = length
		}
		edits = append(edits, scriptEdit{pos: cursor, ins: string(letters[int(rnd()*float64(len(letters)))])})
		cursor++
		length++
	}
	return editScript{name: pattern, edits: edits}
}

// traceFile is the sequential editing-trace format (shared/traces/README.md).
type traceFile struct {
	EndContent string `json:"endContent"`
	Txns       []struct {
		Patches [][3]json.RawMessage `json:"patches"`
	} `json:"txns"`
}

// loadTrace reads a sequential trace (.json or .json.gz): each patch deletes and inserts at a
// code-point position. One trace transaction becomes one edit list entry per patch.
func loadTrace(path string) (editScript, error) {
	f, err := os.Open(path)
	if err != nil {
		return editScript{}, fmt.Errorf("bench: trace: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return editScript{}, fmt.Errorf("bench: trace %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	var t traceFile
	if err := json.NewDecoder(r).Decode(&t); err != nil {
		return editScript{}, fmt.Errorf("bench: trace %s: %w", path, err)
	}
	s := editScript{name: strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".gz"), ".json"), final: t.EndContent}
	for i, txn := range t.Txns {
		for _, p := range txn.Patches {
			var e scriptEdit
			if err := json.Unmarshal(p[0], &e.pos); err != nil {
				return editScript{}, fmt.Errorf("bench: trace %s: txn %d: position: %w", path, i, err)
			}
			if err := json.Unmarshal(p[1], &e.del); err != nil {
				return editScript{}, fmt.Errorf("bench: trace %s: txn %d: delete count: %w", path, i, err)
			}
			if err := json.Unmarshal(p[2], &e.ins); err != nil {
				return editScript{}, fmt.Errorf("bench: trace %s: txn %d: insert: %w", path, i, err)
			}
			s.edits = append(s.edits, e)
		}
	}
	return s, nil
}

// benchSync builds a large document through one writer, then times fresh readers' initial sync.
func benchSync(ctx context.Context, e *benchEnv) (*syncResult, error) {
	o := e.o
	var script editScript
	if o.trace != "" {
		var err error
		if script, err = loadTrace(o.trace); err != nil {
			return nil, err
		}
	} else {
		script = generatedScript(o.pattern, o.n, o.seed)
	}
	docID := docName(o.docPrefix, 0)
	writer, err := client.Dial(ctx, e.url, docID, client.Options{HandshakeTimeout: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("bench: writer: %w", err)
	}
	defer func() { writer.Close() }()
	e.logf("sync: writing %s (%d edits, %d per message)", script.name, len(script.edits), o.chunk)
	c0 := sampleCPU(e.pid)
	for i := 0; i < len(script.edits); i += o.chunk {
		chunk := script.edits[i:min(i+o.chunk, len(script.edits))]
		err := writer.Edit(func(d *crdt.Doc) error {
			t := d.Text(benchRoot)
			for _, ed := range chunk {
				if ed.del > 0 {
					if err := t.Delete(ed.pos, ed.del); err != nil {
						return err
					}
				}
				if ed.ins != "" {
					if err := t.Insert(ed.pos, ed.ins); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("bench: writing edit %d: %w", i, err)
		}
		if (i/o.chunk)%64 == 63 { // keep at most ~64 messages in flight, as the anchors' writer waits every 500
			if err := writer.WaitSaved(ctx); err != nil {
				return nil, err
			}
		}
	}
	if err := writer.WaitSaved(ctx); err != nil {
		return nil, err
	}
	c1 := sampleCPU(e.pid)
	content := writer.Text(benchRoot)
	if script.final != "" && content != script.final {
		return nil, fmt.Errorf("bench: the writer's text (%d chars) differs from the trace's endContent (%d chars)", len([]rune(content)), len([]rune(script.final)))
	}
	res := &syncResult{
		Label: o.label, Proto: "tandem", Pattern: script.name, N: len(script.edits), Chars: len([]rune(content)),
		Readers: o.readers, Chunk: o.chunk,
		WriteS:       round2(c1.at.Sub(c0.at).Seconds()),
		WriteOpsS:    round1(float64(len(script.edits)) / c1.at.Sub(c0.at).Seconds()),
		WriteServerS: round2((c1.server - c0.server).Seconds()),
	}
	e.logf("sync: written in %.2f s (%.0f edits/s); %d characters", res.WriteS, res.WriteOpsS, res.Chars)

	cold := false
	switch {
	case e.restart != nil:
		writer.Close()
		e.logf("sync: restarting the server for a cold load")
		if err := e.restart(ctx); err != nil {
			return nil, err
		}
		cold = true
	case o.coldWait > 0:
		writer.Close()
		e.logf("sync: waiting %v for the server to unload the document", o.coldWait)
		sleepUntil(ctx, time.Now().Add(o.coldWait))
		cold = true
	}
	read := func() (syncTiming, error) {
		t0 := time.Now()
		rd, err := client.Dial(ctx, e.url, docID, client.Options{HandshakeTimeout: 60 * time.Second})
		if err != nil {
			return syncTiming{}, fmt.Errorf("bench: reader: %w", err)
		}
		t1 := time.Now()
		info := rd.LastSync()
		ok := rd.Text(benchRoot) == content
		rd.Close()
		ms := func(d time.Duration) float64 { return round2(float64(d) / 1e6) }
		return syncTiming{TotalMs: ms(t1.Sub(t0)), FirstByteMs: ms(info.Received.Sub(t0)), ApplyMs: ms(info.Applied.Sub(info.Received)), Bytes: info.Bytes, OK: ok}, nil
	}
	if cold {
		st, err := read()
		if err != nil {
			return nil, err
		}
		res.Cold = &st
		e.logf("sync: cold reader: %.1f ms (first byte %.1f ms, apply %.1f ms), %d bytes", st.TotalMs, st.FirstByteMs, st.ApplyMs, st.Bytes)
	}
	res.ServerRSSMB = e.serverRSSMB()
	var timings []syncTiming
	r0 := sampleCPU(e.pid)
	for i := 0; i < o.readers; i++ {
		st, err := read()
		if err != nil {
			return nil, err
		}
		timings = append(timings, st)
		if st.OK {
			res.ContentOK++
		}
		sleepUntil(ctx, time.Now().Add(300*time.Millisecond))
	}
	r1 := sampleCPU(e.pid)
	res.SyncBytes = timings[0].Bytes
	med := func(f func(syncTiming) float64) float64 {
		v := make([]float64, len(timings))
		for i, t := range timings {
			v[i] = f(t)
		}
		sort.Float64s(v)
		return v[(len(v)-1)/2]
	}
	res.SyncTotalMsMedian = med(func(t syncTiming) float64 { return t.TotalMs })
	res.FirstByteMsMedian = med(func(t syncTiming) float64 { return t.FirstByteMs })
	res.ClientApplyMsMedian = med(func(t syncTiming) float64 { return t.ApplyMs })
	res.SyncTotalMsMin, res.SyncTotalMsMax = timings[0].TotalMs, timings[0].TotalMs
	for _, t := range timings {
		res.SyncTotalMsMin = min(res.SyncTotalMsMin, t.TotalMs)
		res.SyncTotalMsMax = max(res.SyncTotalMsMax, t.TotalMs)
	}
	res.ServerCPUMsPerSync = round2(float64((r1.server - r0.server).Milliseconds()) / float64(o.readers))
	res.OtherCPUPct = cpuBetween(r0, r1).OtherPct
	e.logf("sync: %d warm readers: median %.1f ms (first byte %.1f ms, apply %.1f ms), %d bytes, %d/%d identical",
		o.readers, res.SyncTotalMsMedian, res.FirstByteMsMedian, res.ClientApplyMsMedian, res.SyncBytes, res.ContentOK, o.readers)
	if res.ContentOK != o.readers || (res.Cold != nil && !res.Cold.OK) {
		return res, fmt.Errorf("bench: a reader's text differs from the writer's")
	}
	return res, nil
}
