// Package clientjs exposes the browser client's files (ES modules and the demo editor) to the server,
// which serves them as they are: no build step stands between a change here and `go run ./cmd/tandem`.
package clientjs

import (
	"embed"
	"io/fs"
)

//go:embed demo
var files embed.FS

// Static returns the files the server serves at "/": index.html (the demo editor) at its root, and the
// modules it imports by relative paths.
func Static() fs.FS {
	sub, err := fs.Sub(files, "demo")
	if err != nil {
		// fs.Sub fails only on an invalid path, and "demo" is a constant.
		panic(err)
	}
	return sub
}
