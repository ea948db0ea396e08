//go:build !linux

package wsframe

// mapChunk returns n bytes of the Go heap (mapChunk maps them from the kernel on Linux).
func mapChunk(n int) ([]byte, error) { return make([]byte, n), nil }

// unmapChunk lets the collector have a chunk of mapChunk.
func unmapChunk([]byte) {}
