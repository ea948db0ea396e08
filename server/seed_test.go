package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tandemhq/tandem/auth"
)

// putSeed sends PUT /v1/docs/{id} with body and content type, and returns the status and answer.
func (ts *testServer) putSeed(t *testing.T, docID, tok, contentType string, body []byte) (int, seedResponse, string) {
	t.Helper()
	req, err := http.NewRequest("PUT", ts.base+"/v1/docs/"+docID, bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, seedResponse{}, ""
	}
	req.Header = bearer(tok)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, seedResponse{}, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sr seedResponse
	_ = json.Unmarshal(b, &sr)
	return resp.StatusCode, sr, string(b)
}

func seedBody(text string) []byte {
	return []byte(fmt.Sprintf(`{"root":"body","edits":[{"index":0,"insert":%q}]}`, text))
}

// TestSeedRacing starts many seeders at once on an empty document: exactly one creates it, the
// others change nothing and are told so, and the document holds the winner's text alone.
func TestSeedRacing(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	tok := mint(t, "app", "*", auth.RoleWrite, time.Hour)
	for round := range 3 {
		doc := fmt.Sprintf("seed-%d", round)
		const seeders = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []string
		statuses := map[int]int{}
		start := make(chan struct{})
		for i := range seeders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				text := fmt.Sprintf("seeded by %d", i)
				status, sr, body := ts.putSeed(t, doc, tok, "application/json", seedBody(text))
				mu.Lock()
				defer mu.Unlock()
				statuses[status]++
				switch {
				case status == http.StatusCreated && sr.Created:
					winners = append(winners, text)
				case status == http.StatusOK && !sr.Created:
				default:
					t.Errorf("seeder %d: %d %s; want 201 created or 200 not created", i, status, body)
				}
				if sr.StateVector == "" {
					t.Errorf("seeder %d: no state vector in %s", i, body)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: %d seeders created the document (%v, statuses %v); want exactly 1", round, len(winners), winners, statuses)
		}
		if got := ts.docText(t, doc); got != winners[0] {
			t.Errorf("round %d: document text %q; want the winner's %q alone", round, got, winners[0])
		}
	}
}

// TestSeedExisting: a document with content, whoever wrote it, is not seeded; an update body
// seeds as JSON edits do; a reader may not seed; a deleted document may be seeded again.
func TestSeedExisting(t *testing.T) {
	ts := startServer(t, secConfig(t, nil), nil)
	tok := mint(t, "app", "*", auth.RoleWrite, time.Hour)
	ts.seed(t, "typed", 61, "typed by a client")
	if status, sr, body := ts.putSeed(t, "typed", tok, "application/json", seedBody("seed")); status != http.StatusOK || sr.Created {
		t.Errorf("seed of a document with content = %d %s; want 200 created false", status, body)
	}
	if got := ts.docText(t, "typed"); got != "typed by a client" {
		t.Errorf("text after a refused seed = %q; want it unchanged", got)
	}

	upd := craftUpdate(62, 0, "from an update")
	if status, sr, body := ts.putSeed(t, "bin", tok, "application/octet-stream", upd); status != http.StatusCreated || !sr.Created {
		t.Errorf("seed with an update = %d %s; want 201 created", status, body)
	}
	if status, sr, body := ts.putSeed(t, "bin", tok, "application/octet-stream", craftUpdate(63, 0, "again")); status != http.StatusOK || sr.Created {
		t.Errorf("second seed with an update = %d %s; want 200 created false", status, body)
	}
	if got := ts.docText(t, "bin"); got != "from an update" {
		t.Errorf("text = %q; want %q", got, "from an update")
	}

	reader := mint(t, "viewer", "*", auth.RoleRead, time.Hour)
	if status, _, body := ts.putSeed(t, "ro", reader, "application/json", seedBody("x")); status != http.StatusForbidden {
		t.Errorf("seed by a reader = %d %s; want 403", status, body)
	}
	if status, _, body := ts.putSeed(t, "bad", tok, "application/json", []byte(`{"root":"body"}`)); status != http.StatusBadRequest {
		t.Errorf("seed with nothing to do = %d %s; want 400", status, body)
	}

	if status, b := httpDo(t, "DELETE", ts.base+"/v1/docs/typed", tok, nil); status != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", status, b)
	}
	if status, sr, body := ts.putSeed(t, "typed", tok, "application/json", seedBody("fresh")); status != http.StatusCreated || !sr.Created {
		t.Errorf("seed after a deletion = %d %s; want 201 created", status, body)
	}
}
