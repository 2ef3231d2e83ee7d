package checkpoints

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPythonLoader checks that testdata/load_safetensors.py (standard library
// only) reads what WriteSafetensors writes and rejects a truncated file. It
// runs /usr/bin/python3 (else python3 from PATH) and is skipped, saying so,
// where there is none, unless SINKLAB_REQUIRE_PYTHON is set (.ci/run sets
// it), where it fails instead.
func TestPythonLoader(t *testing.T) {
	py := "/usr/bin/python3" // the system one (Debian's python3-torch lives there); a pyenv shim is slow
	if _, err := os.Stat(py); err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			if os.Getenv("SINKLAB_REQUIRE_PYTHON") != "" {
				t.Fatal("SINKLAB_REQUIRE_PYTHON is set but there is no /usr/bin/python3 and no python3 on PATH")
			}
			t.Skip("no /usr/bin/python3 and no python3 on PATH")
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	data := encode(t, []Tensor{
		{Name: "w", Shape: []int{2, 3}, F32: []float32{0.5, 1, 1.5, 2, 2.5, 3}},
		{Name: "ids", Shape: []int{2}, I64: []int64{-4, 9}},
		{Name: "s", Shape: []int{}, F64: []float64{0.25}},
		{Name: "e", Shape: []int{0}, F32: []float32{}},
	}, map[string]string{"format": "pt"})
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "testdata/load_safetensors.py", "--sum", "--metadata", "--backend", "stdlib", path).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := "__metadata__\tformat\tpt\n" +
		"e\tF32\t[0]\t0.0\n" +
		"ids\tI64\t[2]\t5\n" +
		"s\tF64\t[]\t0.25\n" +
		"w\tF32\t[2,3]\t10.5\n"
	if string(out) != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}

	if err := os.WriteFile(path, data[:len(data)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(py, "testdata/load_safetensors.py", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "truncated") {
		t.Errorf("truncated file: err %v, output %s", err, out)
	}
}
