//go:build !linux

package storage

import "os"

// fdatasync is f.Sync where the system offers no fdatasync.
func fdatasync(f *os.File) error { return f.Sync() }
