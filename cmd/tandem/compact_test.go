package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemhq/tandem/storage"
)

// TestCompact runs tandem compact on a data file left larger than its data by deletions and
// checks that the copy is smaller, opens, passes the store's check and holds the documents; and
// that it refuses bad usage and a file a server holds.
func TestCompact(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "data.db"), filepath.Join(dir, "compact.db")
	s, err := storage.Open(src, storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 1<<20)
	for i := range 8 {
		if _, err := s.AppendSync(t.Context(), "gone", big); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := s.Delete("gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendSync(t.Context(), "kept", []byte("hello")); err != nil {
		t.Fatal(err)
	}

	// The server still holds the file.
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"compact", "--data", src, "--out", dst, "--lock-timeout", "50ms"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "stop the server first") {
		t.Errorf("compact of a file in use = %d, %q; want 1 and a message saying to stop the server", code, stderr.String())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	stdout.Reset()
	stderr.Reset()
	if code := run(t.Context(), []string{"compact", "--data", src, "--out", dst}, &stdout, &stderr); code != 0 {
		t.Fatalf("compact = %d (stderr %q); want 0", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), dst) {
		t.Errorf("compact printed %q; want the sizes and the new file's name", stdout.String())
	}
	c, err := storage.Open(dst, storage.Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open(copy) = %v", err)
	}
	defer c.Close()
	if err := c.Check(); err != nil {
		t.Errorf("Check(copy) = %v; want no error", err)
	}
	st, ok, err := c.Load("kept")
	if err != nil || !ok || len(st.Log) != 1 || string(st.Log[0].Data) != "hello" {
		t.Errorf("Load(kept) from the copy = %+v, %v, %v; want its one entry", st, ok, err)
	}
	srcSize, dstSize := fileBytes(t, src), fileBytes(t, dst)
	if dstSize*4 > srcSize {
		t.Errorf("copy is %d bytes, source %d; want the 8 MiB the deleted document freed left behind", dstSize, srcSize)
	}

	for _, args := range [][]string{
		{"compact", "--data", src},
		{"compact", "--out", dst},
		{"compact", "--data", src, "--out", dst, "extra"},
	} {
		if code := run(t.Context(), args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d; want 2 (usage)", args, code)
		}
	}
	if code := run(t.Context(), []string{"compact", "--data", src, "--out", dst}, &stdout, &stderr); code != 1 {
		t.Errorf("compact onto an existing file = %d; want 1", code)
	}
}

func fileBytes(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
