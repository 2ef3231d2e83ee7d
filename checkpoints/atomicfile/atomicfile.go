// Package atomicfile writes whole files (config.json, tokenizer.json, sweep
// manifests, report pages) so that readers see the old content or the new,
// never a partial file. Checkpoint folders use the same scheme one level up.
package atomicfile

import (
	"os"
	"path/filepath"
)

// WriteFile writes data to path through a hidden, synced temporary file in the
// same folder, made world-readable (0644, as os.WriteFile would) and renamed
// into place; on error the temporary file is removed.
func WriteFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644) // CreateTemp makes it 0600
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
