package checkpoints

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testCheckpoint returns a state and tensors like a small trainer would save.
func testCheckpoint(step int64) (State, []Tensor, []Tensor) {
	rng := rand.New(rand.NewPCG(uint64(step), 7))
	st := State{
		Step:       step,
		Tokens:     step * 512,
		RNG:        []byte{0, 1, 2, 0xff, byte(step)},
		DataCursor: json.RawMessage(fmt.Sprintf(`{"epoch": 0, "offset": %d}`, step*16)),
		Config:     json.RawMessage(`{"d_model": 64, "n_heads": 4, "lr": 3e-4}`),
		Extra:      map[string]string{"git": "abc123"},
	}
	model := []Tensor{
		randTensor(rng, "embed.W_E", F32, 16, 8),
		randTensor(rng, "blocks.0.attn.W_Q", F32, 8, 8),
		{Name: "ln_final.b", Shape: []int{8}, F32: make([]float32, 8)},
	}
	opt := []Tensor{
		randTensor(rng, "embed.W_E.m", F32, 16, 8),
		randTensor(rng, "embed.W_E.v", F32, 16, 8),
		{Name: "step", Shape: []int{}, I64: []int64{step}},
	}
	return st, model, opt
}

func mustSave(t *testing.T, runDir string, step int64, keepLast int) string {
	t.Helper()
	st, model, opt := testCheckpoint(step)
	dir, err := Save(runDir, st, model, opt, keepLast)
	if err != nil {
		t.Fatalf("Save step %d: %v", step, err)
	}
	return dir
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("compact %q: %v", b, err)
	}
	return out.String()
}

func TestSaveLoadRoundTrip(t *testing.T) {
	runDir := t.TempDir()
	st, model, opt := testCheckpoint(42)
	dir, err := Save(runDir, st, model, opt, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(runDir, "checkpoints", "step-0000042"); dir != want {
		t.Errorf("dir %s, want %s", dir, want)
	}
	ck, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := ck.State
	if ck.Dir != dir || got.Format != FormatName || got.Version != FormatVersion || got.Step != 42 || got.Tokens != st.Tokens {
		t.Errorf("state header: %+v", got)
	}
	if !bytes.Equal(got.RNG, st.RNG) || compact(t, got.DataCursor) != compact(t, st.DataCursor) ||
		compact(t, got.Config) != compact(t, st.Config) || !mapsEqual(got.Extra, st.Extra) {
		t.Errorf("state payload: got %+v want %+v", got, st)
	}
	if len(got.ModelSHA256) != 64 || len(got.OptimizerSHA256) != 64 {
		t.Errorf("checksums %q %q", got.ModelSHA256, got.OptimizerSHA256)
	}
	if !sameTensors(ck.Model, sortedByName(model)) || !sameTensors(ck.Optimizer, sortedByName(opt)) {
		t.Error("tensors differ after the round trip")
	}
	// The model file is plain safetensors with the "pt" format tag.
	if _, meta, err := ReadSafetensors(filepath.Join(dir, ModelFile)); err != nil || meta["format"] != "pt" {
		t.Errorf("model metadata %v, err %v", meta, err)
	}
	// Nothing but the step folder is left in checkpoints/.
	des, _ := os.ReadDir(filepath.Join(runDir, "checkpoints"))
	if len(des) != 1 || des[0].Name() != "step-0000042" {
		t.Errorf("checkpoints/ holds %v", des)
	}
	// Empty optional fields load back as nil; nil optimizer is an empty file.
	dir2, err := Save(runDir, State{Step: 43}, model, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ck2, err := Load(dir2)
	if err != nil {
		t.Fatal(err)
	}
	if ck2.State.RNG != nil || ck2.State.Config != nil || ck2.State.DataCursor != nil || len(ck2.Optimizer) != 0 {
		t.Errorf("empty fields: %+v, optimizer %v", ck2.State, ck2.Optimizer)
	}
}

func TestSaveRejects(t *testing.T) {
	runDir := t.TempDir()
	st, model, opt := testCheckpoint(5)
	bad := slices.Clone(model)
	bad[0].Shape = []int{3}
	cases := []struct {
		name     string
		run      func() error
		want     error
		contains string
	}{
		{"negative step", func() error { s := st; s.Step = -1; _, err := Save(runDir, s, model, opt, 0); return err }, nil, "negative step"},
		{"negative keep", func() error { _, err := Save(runDir, st, model, opt, -1); return err }, nil, "negative keepLast"},
		{"bad tensor", func() error { _, err := Save(runDir, st, bad, opt, 0); return err }, ErrInvalidTensor, "model"},
		{"bad config", func() error {
			s := st
			s.Config = json.RawMessage(`{`)
			_, err := Save(runDir, s, model, opt, 0)
			return err
		}, nil, "state.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if err == nil || c.want != nil && !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.contains) {
				t.Fatalf("got %v, want %v containing %q", err, c.want, c.contains)
			}
			des, _ := os.ReadDir(filepath.Join(runDir, "checkpoints"))
			if len(des) != 0 {
				t.Errorf("failed Save left %v", des)
			}
		})
	}
}

// TestLoadErrors damages a fresh checkpoint in one way each and checks that
// Load names the file and the problem.
func TestLoadErrors(t *testing.T) {
	editState := func(f func(m map[string]any)) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, StateFile)
			js, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(js, &m); err != nil {
				t.Fatal(err)
			}
			f(m)
			js, _ = json.Marshal(m)
			if err := os.WriteFile(p, js, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	truncate := func(name string, by int64) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, name)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, max(0, fi.Size()-by)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name     string
		corrupt  func(t *testing.T, dir string)
		want     error
		file     string // the error must name this file
		contains string
	}{
		{"missing model", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, ModelFile)) }, fs.ErrNotExist, ModelFile, ""},
		{"missing state", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, StateFile)) }, fs.ErrNotExist, StateFile, ""},
		{"truncated model", truncate(ModelFile, 10), ErrTruncated, ModelFile, "reach past"},
		{"truncated optimizer", truncate(OptimizerFile, 1), ErrTruncated, OptimizerFile, ""},
		{"empty model", truncate(ModelFile, 0x7fffffff), ErrTruncated, ModelFile, ""},
		{"truncated state", truncate(StateFile, 20), ErrFormat, StateFile, "invalid JSON"},
		{"flipped data byte", func(t *testing.T, dir string) {
			p := filepath.Join(dir, ModelFile)
			b, _ := os.ReadFile(p)
			b[len(b)-3] ^= 0x40
			os.WriteFile(p, b, 0o644)
		}, ErrChecksum, ModelFile, "state.json says"},
		{"wrong format name", editState(func(m map[string]any) { m["format"] = "nanogpt" }), ErrFormat, StateFile, `format "nanogpt", want "sinklab-checkpoint"`},
		{"missing format", editState(func(m map[string]any) { delete(m, "format") }), ErrFormat, StateFile, "missing field format"},
		{"future version", editState(func(m map[string]any) { m["version"] = 2; m["step"] = "new type" }), ErrFormat, StateFile, "version 2, want version 1"},
		{"missing version", editState(func(m map[string]any) { delete(m, "version") }), ErrFormat, StateFile, "missing field version"},
		{"step mismatch", editState(func(m map[string]any) { m["step"] = 8 }), ErrFormat, StateFile, "step 8 does not match the folder name (step 7)"},
		{"bad checksum field", editState(func(m map[string]any) { m["model_sha256"] = "xyz" }), ErrFormat, StateFile, "model_sha256"},
		{"other checksum", editState(func(m map[string]any) {
			m["optimizer_sha256"] = strings.Repeat("0", 64)
		}), ErrChecksum, OptimizerFile, "sha256"},
		{"bad field type", editState(func(m map[string]any) { m["tokens"] = "many" }), ErrFormat, StateFile, "invalid state"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := mustSave(t, t.TempDir(), 7, 0)
			c.corrupt(t, dir)
			ck, err := Load(dir)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if ck != nil {
				t.Error("checkpoint returned with an error")
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, c.file)) || !strings.Contains(err.Error(), c.contains) {
				t.Errorf("error %q should name %s and contain %q", err, c.file, c.contains)
			}
		})
	}
}

func TestList(t *testing.T) {
	runDir := t.TempDir()
	if steps, err := List(runDir); err != nil || steps != nil {
		t.Fatalf("no checkpoints folder: got %v %v", steps, err)
	}
	parent := filepath.Join(runDir, "checkpoints")
	for _, name := range []string{"step-0000020", "step-0000003", "step-12345678", "step-1", "step-00000004",
		"step-000000x", ".tmp-step-0000099-123", "other"} {
		if err := os.MkdirAll(filepath.Join(parent, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(parent, "step-0000050"), nil, 0o644) // a file, not a folder
	steps, err := List(runDir)
	if want := []int64{3, 20, 12345678}; err != nil || !slices.Equal(steps, want) {
		t.Errorf("got %v %v, want %v", steps, err, want)
	}
}

// TestLatestAfterCrash simulates a run killed mid-save: a temporary folder
// with partial files, and a step folder whose model file is truncated (as if
// the rename had been made durable before the data). Latest must pick the
// previous good checkpoint and report the bad one; the next Save cleans up.
func TestLatestAfterCrash(t *testing.T) {
	runDir := t.TempDir()
	mustSave(t, runDir, 10, 0)
	mustSave(t, runDir, 20, 0)
	bad := mustSave(t, runDir, 30, 0)
	p := filepath.Join(bad, ModelFile)
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(runDir, "checkpoints", ".tmp-step-0000040-987654")
	os.MkdirAll(tmp, 0o755)
	os.WriteFile(filepath.Join(tmp, ModelFile), b[:100], 0o644)

	ck, skipped, err := Latest(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if ck.State.Step != 20 {
		t.Errorf("Latest picked step %d, want 20", ck.State.Step)
	}
	if len(skipped) != 1 || !errors.Is(skipped[0], ErrTruncated) || !strings.Contains(skipped[0].Error(), p) {
		t.Errorf("skipped %v, want one ErrTruncated naming %s", skipped, p)
	}
	_, model, _ := testCheckpoint(20)
	if !sameTensors(ck.Model, sortedByName(model)) {
		t.Error("step 20 model differs")
	}

	// Resuming from 20 and saving 30 again replaces the bad folder and
	// removes the temporary one.
	mustSave(t, runDir, 30, 0)
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary folder still there: %v", err)
	}
	ck, skipped, err = Latest(runDir)
	if err != nil || ck.State.Step != 30 || len(skipped) != 0 {
		t.Errorf("after re-save: step %v skipped %v err %v", ck, skipped, err)
	}
	des, _ := os.ReadDir(filepath.Join(runDir, "checkpoints"))
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	if want := []string{"step-0000010", "step-0000020", "step-0000030"}; !slices.Equal(names, want) {
		t.Errorf("checkpoints/ holds %v, want %v", names, want)
	}
}

func TestLatestNone(t *testing.T) {
	runDir := t.TempDir()
	ck, skipped, err := Latest(runDir)
	if !errors.Is(err, ErrNoCheckpoint) || ck != nil || len(skipped) != 0 {
		t.Errorf("empty run: %v %v %v", ck, skipped, err)
	}
	for _, step := range []int64{1, 2} {
		dir := mustSave(t, runDir, step, 0)
		os.Remove(filepath.Join(dir, OptimizerFile))
	}
	ck, skipped, err = Latest(runDir)
	if !errors.Is(err, ErrNoCheckpoint) || ck != nil || len(skipped) != 2 {
		t.Fatalf("all bad: %v %v %v", ck, skipped, err)
	}
	// newest first, each naming its folder
	for i, step := range []int64{2, 1} {
		if !errors.Is(skipped[i], fs.ErrNotExist) || !strings.Contains(skipped[i].Error(), StepDir(runDir, step)) {
			t.Errorf("skipped[%d] = %v, want a missing file in step %d", i, skipped[i], step)
		}
	}
}

func TestKeepLast(t *testing.T) {
	cases := []struct {
		name     string
		existing []int64 // saved first, with keepLast 0
		save     int64
		keepLast int
		want     []int64
	}{
		{"keep all", []int64{1, 2, 3}, 4, 0, []int64{1, 2, 3, 4}},
		{"keep 1", []int64{1, 2, 3}, 4, 1, []int64{4}},
		{"keep 2", []int64{1, 2, 3}, 4, 2, []int64{3, 4}},
		{"keep more than exist", []int64{1}, 2, 5, []int64{1, 2}},
		{"newer folders untouched", []int64{1, 2, 3, 9}, 4, 2, []int64{3, 4, 9}},
		{"resaving a step", []int64{1, 2, 3}, 3, 2, []int64{2, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runDir := t.TempDir()
			for _, s := range c.existing {
				mustSave(t, runDir, s, 0)
			}
			mustSave(t, runDir, c.save, c.keepLast)
			steps, err := List(runDir)
			if err != nil || !slices.Equal(steps, c.want) {
				t.Errorf("got %v %v, want %v", steps, err, c.want)
			}
		})
	}
	// Saving step by step with keepLast 3 keeps a sliding window.
	runDir := t.TempDir()
	for s := int64(0); s <= 50; s += 10 {
		mustSave(t, runDir, s, 3)
	}
	if steps, _ := List(runDir); !slices.Equal(steps, []int64{30, 40, 50}) {
		t.Errorf("sliding window: got %v", steps)
	}
}

func TestCopyInto(t *testing.T) {
	src := []Tensor{
		{Name: "a", Shape: []int{2, 3}, F32: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "b", Shape: []int{}, F64: []float64{9}},
	}
	fresh := func() []Tensor {
		return []Tensor{
			{Name: "b", Shape: []int{}, F64: []float64{0}},
			{Name: "a", Shape: []int{2, 3}, F32: make([]float32, 6)},
		}
	}
	dst := fresh()
	if err := CopyInto(dst, src); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dst[1].F32, src[0].F32) || dst[0].F64[0] != 9 {
		t.Errorf("copied %+v", dst)
	}
	if &dst[1].F32[0] == &src[0].F32[0] {
		t.Error("CopyInto aliased the source slice")
	}

	cases := []struct {
		name     string
		edit     func(dst []Tensor) []Tensor
		want     error
		contains string
	}{
		{"shape", func(d []Tensor) []Tensor { d[1].Shape = []int{3, 2}; return d }, ErrMismatch, `tensor "a": shape [2 3] in the checkpoint, want [3 2]`},
		{"dtype", func(d []Tensor) []Tensor { d[0].F64 = nil; d[0].F32 = []float32{0}; return d }, ErrMismatch, `tensor "b": dtype F64 in the checkpoint, want F32`},
		{"missing", func(d []Tensor) []Tensor { return append(d, Tensor{Name: "c", Shape: []int{1}, F32: []float32{0}}) }, ErrMismatch, `tensor "c" missing`},
		{"extra", func(d []Tensor) []Tensor { return d[1:] }, ErrMismatch, `unexpected tensors ["b"]`},
		{"invalid dst", func(d []Tensor) []Tensor { d[1].F32 = d[1].F32[:5]; return d }, ErrInvalidTensor, "destination"},
		{"duplicate dst", func(d []Tensor) []Tensor { return append(d, d[0]) }, ErrInvalidTensor, "duplicate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := c.edit(fresh())
			err := CopyInto(d, src)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.contains) {
				t.Fatalf("got %v, want %v containing %q", err, c.want, c.contains)
			}
			for _, x := range d { // nothing copied
				for _, v := range x.F32 {
					if v != 0 {
						t.Fatalf("tensor %q partly copied: %v", x.Name, x.F32)
					}
				}
				for _, v := range x.F64 {
					if v != 0 {
						t.Fatalf("tensor %q partly copied: %v", x.Name, x.F64)
					}
				}
			}
		})
	}
}

// TestLoadIntoModel is the resume path end to end: save, load the latest,
// copy into freshly allocated tensors of the expected shapes.
func TestLoadIntoModel(t *testing.T) {
	runDir := t.TempDir()
	mustSave(t, runDir, 3, 0)
	ck, _, err := Latest(runDir)
	if err != nil {
		t.Fatal(err)
	}
	_, want, _ := testCheckpoint(3)
	dst := make([]Tensor, len(want))
	for i, w := range want {
		dst[i] = Tensor{Name: w.Name, Shape: w.Shape, F32: make([]float32, len(w.F32))}
	}
	if err := CopyInto(dst, ck.Model); err != nil {
		t.Fatal(err)
	}
	if !sameTensors(dst, want) {
		t.Error("restored tensors differ")
	}
}
