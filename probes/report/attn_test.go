package report

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sinklab/sinklab/transformer/capture"
)

// attnCapture builds a capture whose weight at (b, h, i, j) of layer l
// encodes its indices: 1000·l + 100·b + 10·h + i + j/10.
func attnCapture(B, T, L, H int) *capture.Capture {
	c := &capture.Capture{B: B, T: T, L: L, H: H, Causal: true, Normalized: true, Variant: "softmax"}
	for l := 0; l < L; l++ {
		a := make([]float32, B*H*T*T) // (B, H, T, T)
		for b := 0; b < B; b++ {
			for h := 0; h < H; h++ {
				for i := 0; i < T; i++ {
					for j := 0; j < T; j++ {
						a[((b*H+h)*T+i)*T+j] = float32(float64(1000*l+100*b+10*h+i) + float64(j)/10)
					}
				}
			}
		}
		c.Attn = append(c.Attn, a)
	}
	return c
}

func TestNewAttnSnapshot(t *testing.T) {
	c := attnCapture(3, 5, 2, 2)
	s, err := NewAttnSnapshot(c, 1, 70, []int32{9, 8, 7, 6, 5}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.T != 5 || s.FullT != 5 || s.Step != 70 || s.Sample != 1 || !s.Causal || s.Variant != "softmax" {
		t.Errorf("header %+v", s)
	}
	if s.Layers() != 2 || s.Heads() != 2 || !slices.Equal(s.Tokens, []int32{9, 8, 7, 6, 5}) {
		t.Errorf("shape %d×%d tokens %v", s.Layers(), s.Heads(), s.Tokens)
	}
	for l := 0; l < 2; l++ {
		for h := 0; h < 2; h++ {
			for i := 0; i < 5; i++ {
				for j := 0; j < 5; j++ {
					want, _ := round4(float32(float64(1000*l+100+10*h+i) + float64(j)/10))
					if got := s.Attn[l][h][i][j]; got != want {
						t.Fatalf("attn[%d][%d][%d][%d] = %v, want %v", l, h, i, j, got, want)
					}
				}
			}
		}
	}

	t.Run("prefix and sink token", func(t *testing.T) {
		c := attnCapture(1, 6, 1, 1)
		c.SinkToken = true
		s, err := NewAttnSnapshot(c, 0, 0, []int32{4, 3, 2, 1, 0}, 3)
		if err != nil {
			t.Fatal(err)
		}
		if s.T != 3 || s.FullT != 6 || !slices.Equal(s.Tokens, []int32{-1, 4, 3}) || len(s.Attn[0][0]) != 3 || len(s.Attn[0][0][2]) != 3 {
			t.Errorf("T %d/%d tokens %v rows %d", s.T, s.FullT, s.Tokens, len(s.Attn[0][0]))
		}
		if got := s.Attn[0][0][2][1]; got != 2.1 {
			t.Errorf("attn[2][1] = %v, want 2.1", got)
		}
		if tokenLabel(s, 0) != "⟨sink⟩" || tokenLabel(s, 1) != "4" {
			t.Errorf("labels %q %q", tokenLabel(s, 0), tokenLabel(s, 1))
		}
	})
	t.Run("non-finite weights", func(t *testing.T) {
		c := attnCapture(1, 3, 1, 1)
		c.Attn[0][1] = float32(math.NaN())
		c.Attn[0][4] = float32(math.Inf(1))
		s, err := NewAttnSnapshot(c, 0, 0, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if s.NonFinite != 2 || s.Attn[0][0][0][1] != 0 || s.Attn[0][0][1][1] != 0 || len(s.Tokens) != 0 {
			t.Errorf("non-finite %d, values %v, tokens %v", s.NonFinite, s.Attn[0][0], s.Tokens)
		}
		if err := WriteAttnSnapshot(t.TempDir(), s); err != nil {
			t.Errorf("a snapshot with replaced NaN must be writable: %v", err)
		}
	})
	for _, tc := range []struct {
		name   string
		c      *capture.Capture
		sample int
		tokens []int32
		wantIn string
	}{
		{"nil capture", nil, 0, nil, "nil capture"},
		{"sample out of range", attnCapture(2, 3, 1, 1), 2, nil, "sample 2 out of range"},
		{"too few tokens", attnCapture(1, 3, 1, 1), 0, []int32{1, 2}, "2 token ids for 3 positions"},
		{"bad capture", &capture.Capture{B: 1, T: 2, L: 1, H: 1, Attn: [][]float32{{1}}}, 0, nil, "hook_pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewAttnSnapshot(tc.c, tc.sample, 0, tc.tokens, 0)
			if err == nil || !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("error %v, want %q", err, tc.wantIn)
			}
		})
	}
}

func TestRound4(t *testing.T) {
	for _, tc := range []struct{ in, want float32 }{
		{0.123456, 0.1235}, {1, 1}, {0, 0}, {-0.000123456, -0.0001235}, {98765.4, 98770}, {1e-30, 1e-30},
	} {
		got, ok := round4(tc.in)
		if !ok || got != tc.want {
			t.Errorf("round4(%v) = %v, %v; want %v", tc.in, got, ok, tc.want)
		}
	}
}

func TestAttnSnapshotFiles(t *testing.T) {
	dir := t.TempDir()
	c := attnCapture(1, 4, 2, 1)
	for _, step := range []int64{30, 0, 10, 20} {
		s, err := NewAttnSnapshot(c, 0, step, []int32{1, 2, 3, 4}, 0)
		if err != nil {
			t.Fatal(err)
		}
		s.Labels = []string{"BOS", "a", "b", "c"}
		if err := WriteAttnSnapshot(dir, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "attn", "step-0000030.json")); err != nil {
		t.Errorf("file name: %v", err)
	}
	steps, err := ListAttnSnapshots(dir)
	if err != nil || !slices.Equal(steps, []int64{0, 10, 20, 30}) {
		t.Fatalf("steps %v (%v)", steps, err)
	}
	got, err := ReadAttnSnapshot(AttnSnapshotPath(dir, 20))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := NewAttnSnapshot(c, 0, 20, []int32{1, 2, 3, 4}, 0)
	if got.Step != 20 || !slices.Equal(got.Labels, []string{"BOS", "a", "b", "c"}) || got.Attn[1][0][3][2] != want.Attn[1][0][3][2] {
		t.Errorf("round trip: %+v", got)
	}
	if tokenLabel(got, 0) != "BOS" {
		t.Errorf("label %q, want BOS", tokenLabel(got, 0))
	}
	// a killed writer's temporary file is ignored, then removed with the later steps
	stale := filepath.Join(dir, "attn", ".step-0000040.json.123.tmp")
	os.WriteFile(stale, []byte("{"), 0o644)
	if steps, _ := ListAttnSnapshots(dir); len(steps) != 4 {
		t.Errorf("temporary file listed: %v", steps)
	}
	if err := TruncateAttnSnapshots(dir, 10); err != nil {
		t.Fatal(err)
	}
	if steps, _ := ListAttnSnapshots(dir); !slices.Equal(steps, []int64{0, 10}) {
		t.Errorf("after truncation: %v", steps)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file kept")
	}
	if err := TruncateAttnSnapshots(t.TempDir(), 0); err != nil {
		t.Errorf("a run without snapshots: %v", err)
	}
	bad := &AttnSnapshot{Format: AttnFormat, Version: AttnVersion, T: 2, Attn: [][][][]float32{{{{1, 0}}}}}
	if err := WriteAttnSnapshot(dir, bad); err == nil || !strings.Contains(err.Error(), "1 rows, want 2") {
		t.Errorf("invalid snapshot written: %v", err)
	}
}

func TestAttnSnapshotDue(t *testing.T) {
	due := func(pe, steps int) []int {
		var out []int
		for s := 0; s <= steps; s++ {
			if AttnSnapshotDue(s, pe, steps) {
				out = append(out, s)
			}
		}
		return out
	}
	if got := due(50, 100); !slices.Equal(got, []int{0, 50, 100}) {
		t.Errorf("short run: %v", got)
	}
	if got := due(10, 105); got[0] != 0 || got[len(got)-1] != 105 || len(got) != 12 {
		t.Errorf("last step off the probe grid: %v", got)
	}
	if got := due(0, 100); len(got) != 0 {
		t.Errorf("probes off: %v", got)
	}
	long := due(10, 100_000)
	if len(long) > DefaultAttnSnapshots+2 || len(long) < DefaultAttnSnapshots-2 || long[0] != 0 || long[len(long)-1] != 100_000 {
		t.Errorf("long run: %d snapshots %v", len(long), long)
	}
	for _, s := range long {
		if s%10 != 0 {
			t.Errorf("step %d is not a probe step", s)
		}
	}
}
