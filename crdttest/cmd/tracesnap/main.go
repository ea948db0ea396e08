// Command tracesnap replays each sequential editing trace as one user's local
// edits (client ID 1, Text root "body") and prints, one JSON line per trace,
// the SHA-256 and size of the document's snapshot and full update, for the
// cross-language test to compare with the JavaScript twin's:
// go run ./crdttest/cmd/tracesnap [-traces DIR]. With -rich N it prints the
// same for the generated rich-text trace of N edits (crdttest.RichTrace with
// seed 1) instead.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/crdttest"
)

type result struct {
	Trace          string `json:"trace"`
	SnapshotSHA256 string `json:"snapshotSha256"`
	SnapshotBytes  int    `json:"snapshotBytes"`
	UpdateSHA256   string `json:"updateSha256"`
	UpdateBytes    int    `json:"updateBytes"`
}

func main() {
	dir := flag.String("traces", "", "directory of the editing traces (default: $TANDEM_TRACES or ../shared/traces)")
	rich := flag.Int("rich", 0, "replay the generated rich-text trace of this many edits instead")
	flag.Parse()
	enc := json.NewEncoder(os.Stdout)
	if *rich > 0 {
		if err := runRich(enc, *rich); err != nil {
			fmt.Fprintln(os.Stderr, "tracesnap:", err)
			os.Exit(1)
		}
		return
	}
	if *dir != "" {
		os.Setenv("TANDEM_TRACES", *dir)
	}
	for _, f := range crdttest.TraceFiles("sequential_traces") {
		if err := run(enc, f); err != nil {
			fmt.Fprintln(os.Stderr, "tracesnap:", err)
			os.Exit(1)
		}
	}
}

func run(enc *json.Encoder, file string) error {
	t, err := crdttest.LoadTrace(file)
	if err != nil {
		return err
	}
	d, err := crdt.NewDoc(1, crdt.Config{})
	if err != nil {
		return err
	}
	txt := d.Text("body")
	for _, x := range t.Txns {
		for _, p := range x.Patches {
			if p.Del > 0 {
				if err := txt.Delete(p.Pos, p.Del); err != nil {
					return fmt.Errorf("%s: %w", file, err)
				}
			}
			if p.Ins != "" {
				if err := txt.Insert(p.Pos, p.Ins); err != nil {
					return fmt.Errorf("%s: %w", file, err)
				}
			}
		}
	}
	if txt.String() != t.EndContent {
		return fmt.Errorf("%s: the replay differs from endContent", file)
	}
	snap, upd := d.EncodeSnapshot(), d.EncodeUpdate(nil)
	hs, hu := sha256.Sum256(snap), sha256.Sum256(upd)
	return enc.Encode(result{strings.TrimSuffix(filepath.Base(file), ".json.gz"),
		hex.EncodeToString(hs[:]), len(snap), hex.EncodeToString(hu[:]), len(upd)})
}

// runRich replays crdttest.RichTrace(1, n) as local edits of client 1 in the
// Text root "body".
func runRich(enc *json.Encoder, n int) error {
	d, err := crdt.NewDoc(1, crdt.Config{})
	if err != nil {
		return err
	}
	txt := d.Text("body")
	for i, op := range crdttest.RichTrace(1, n) {
		if err := crdttest.ApplyRich(txt, op); err != nil {
			return fmt.Errorf("rich trace edit %d: %w", i, err)
		}
	}
	snap, upd := d.EncodeSnapshot(), d.EncodeUpdate(nil)
	hs, hu := sha256.Sum256(snap), sha256.Sum256(upd)
	return enc.Encode(result{fmt.Sprintf("rich-%d", n), hex.EncodeToString(hs[:]), len(snap), hex.EncodeToString(hu[:]), len(upd)})
}
