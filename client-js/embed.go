// Package clientjs exposes the browser client's files (ES modules and the demo editor) to the server,
// which serves them as they are: no build step stands between a change here and `go run ./cmd/tandem`.
//
// The served tree is the demo page's folder at the root (index.html, its module and stylesheet) plus
// the client's modules under src/, which the demo imports by relative paths ("./src/provider.js").
// Tests, test data and benchmarks are not served.
package clientjs

import (
	"embed"
	"errors"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

//go:embed demo src
var files embed.FS

// Static returns the files the server serves at "/": index.html (the demo editor) at its root, and the
// modules it imports by relative paths under src/.
func Static() fs.FS {
	return static{}
}

// static merges demo/ (at the root) and src/ into one read-only tree.
type static struct{}

// served reports whether a file under src/ is part of the client (not a test or test data).
func served(name string) bool {
	base := path.Base(name)
	if strings.HasSuffix(base, ".test.js") || base == "testdata" || strings.HasPrefix(base, ".") {
		return false
	}
	return !strings.Contains(name, "/testdata/")
}

// Open implements fs.FS.
func (static) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	switch {
	case name == ".":
		return rootDir(), nil
	case name == "src" || strings.HasPrefix(name, "src/"):
		if !served(name) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		f, err := files.Open(name)
		if err != nil {
			return nil, err
		}
		if d, ok := f.(fs.ReadDirFile); ok {
			return filteredDir{ReadDirFile: d}, nil
		}
		return f, nil
	default:
		return files.Open("demo/" + name)
	}
}

// ReadDir implements fs.ReadDirFS, so that fs.WalkDir and friends see the merged tree.
func (s static) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := s.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, ok := f.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return d.ReadDir(-1)
}

// rootDir lists demo/'s entries and src.
func rootDir() *dir {
	demo, _ := fs.ReadDir(files, "demo")
	entries := append([]fs.DirEntry(nil), demo...)
	if src, err := fs.Stat(files, "src"); err == nil {
		entries = append(entries, fs.FileInfoToDirEntry(src))
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return &dir{entries: entries}
}

// dir is the merged root directory.
type dir struct {
	entries []fs.DirEntry
	off     int
}

func (d *dir) Stat() (fs.FileInfo, error) { return dirInfo{}, nil }
func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: errors.New("is a directory")}
}
func (d *dir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.off += n
	return rest[:n], nil
}

// filteredDir hides tests and test data from directory listings under src/.
type filteredDir struct {
	fs.ReadDirFile
}

// ReadDir implements fs.ReadDirFile.
func (d filteredDir) ReadDir(n int) ([]fs.DirEntry, error) {
	all, err := d.ReadDirFile.ReadDir(n)
	out := all[:0]
	for _, e := range all {
		if served(e.Name()) {
			out = append(out, e)
		}
	}
	return out, err
}

type dirInfo struct{}

func (dirInfo) Name() string       { return "." }
func (dirInfo) Size() int64        { return 0 }
func (dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (dirInfo) ModTime() time.Time { return time.Time{} }
func (dirInfo) IsDir() bool        { return true }
func (dirInfo) Sys() any           { return nil }
