package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedFilesUpToDate fails when the committed assembly differs from
// what the generator writes: run `go generate ./attention/kernels`.
func TestGeneratedFilesUpToDate(t *testing.T) {
	for name, want := range generate() {
		got, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./attention/kernels", name)
		}
	}
}

// TestVZEROUPPER checks that every routine clears the upper halves of the
// vector registers before each return: Go's SSE code after a dirty AVX state
// runs several times slower.
func TestVZEROUPPER(t *testing.T) {
	for name, text := range generate() {
		fn, dirty, rets := "", false, 0
		for _, line := range strings.Split(string(text), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) == 0 || strings.HasPrefix(f[0], "//"):
			case f[0] == "TEXT":
				if fn != "" && rets == 0 {
					t.Errorf("%s: %s has no RET", name, fn)
				}
				fn, dirty, rets = f[1], false, 0
			case f[0] == "VZEROUPPER":
				dirty = false
			case strings.HasPrefix(f[0], "V"):
				dirty = true
			case f[0] == "RET":
				rets++
				if dirty {
					t.Errorf("%s: %s returns without VZEROUPPER", name, fn)
				}
			}
		}
		if fn != "" && rets == 0 {
			t.Errorf("%s: %s has no RET", name, fn)
		}
	}
}
