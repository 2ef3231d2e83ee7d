package checkpoints

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// randTensor returns a tensor of the given dtype and shape with seeded values.
func randTensor(rng *rand.Rand, name string, d DType, shape ...int) Tensor {
	n := 1
	for _, s := range shape {
		n *= s
	}
	t := Tensor{Name: name, Shape: shape}
	switch d {
	case F32:
		t.F32 = make([]float32, n)
		for i := range t.F32 {
			t.F32[i] = float32(rng.NormFloat64())
		}
	case F64:
		t.F64 = make([]float64, n)
		for i := range t.F64 {
			t.F64[i] = rng.NormFloat64()
		}
	case I64:
		t.I64 = make([]int64, n)
		for i := range t.I64 {
			t.I64[i] = int64(rng.Uint64())
		}
	}
	return t
}

// sameTensors reports whether a and b hold the same names, shapes, dtypes and
// bit patterns (so NaN payloads and -0 count), in the same order.
func sameTensors(a, b []Tensor) bool {
	return slices.EqualFunc(a, b, func(x, y Tensor) bool {
		if x.Name != y.Name || !slices.Equal(x.Shape, y.Shape) || x.DType() != y.DType() || x.Len() != y.Len() {
			return false
		}
		for i := range x.F32 {
			if math.Float32bits(x.F32[i]) != math.Float32bits(y.F32[i]) {
				return false
			}
		}
		for i := range x.F64 {
			if math.Float64bits(x.F64[i]) != math.Float64bits(y.F64[i]) {
				return false
			}
		}
		return slices.Equal(x.I64, y.I64)
	})
}

func sortedByName(ts []Tensor) []Tensor {
	out := slices.Clone(ts)
	slices.SortFunc(out, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func encode(t *testing.T, ts []Tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, ts, meta); err != nil {
		t.Fatalf("WriteSafetensors: %v", err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	specials := Tensor{Name: "specials", Shape: []int{6}, F32: []float32{
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)),
		math.Float32frombits(0x7fc00001), math.SmallestNonzeroFloat32, math.MaxFloat32}}
	cases := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
	}{
		{"f32", []Tensor{randTensor(rng, "w", F32, 3, 4)}, nil},
		{"f64", []Tensor{randTensor(rng, "w", F64, 2, 3, 5)}, nil},
		{"i64", []Tensor{randTensor(rng, "ids", I64, 7)}, nil},
		{"scalar", []Tensor{{Name: "s", Shape: []int{}, F64: []float64{0.25}}}, nil},
		{"empty", []Tensor{{Name: "e", Shape: []int{0}, F32: []float32{}}, {Name: "e2", Shape: []int{3, 0, 2}, F64: []float64{}}}, nil},
		{"no tensors", nil, map[string]string{"format": "pt"}},
		{"specials", []Tensor{specials}, nil},
		{"larger than a chunk", []Tensor{randTensor(rng, "big", F32, 3*chunkSize/4+5), randTensor(rng, "big64", F64, chunkSize/8+1)}, nil},
		{"mixed and unsorted", []Tensor{
			randTensor(rng, "z.weight", F32, 2, 2),
			{Name: "a.scalar", Shape: []int{}, I64: []int64{-3}},
			{Name: "m.empty", Shape: []int{0, 4}, F64: []float64{}},
			randTensor(rng, "blocks.0.attn.w_q", F64, 4, 1),
		}, map[string]string{"format": "pt", "note": `quotes " and <&> and ünïcode`, "": "empty key"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orig := slices.Clone(c.tensors)
			data := encode(t, c.tensors, c.meta)
			if !sameTensors(c.tensors, orig) {
				t.Fatal("WriteSafetensors reordered or changed its input")
			}
			n := binary.LittleEndian.Uint64(data)
			if (8+n)%8 != 0 {
				t.Errorf("header length %d: data area not 8-byte aligned", n)
			}
			got, meta, err := DecodeSafetensors(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatalf("DecodeSafetensors: %v", err)
			}
			if want := sortedByName(c.tensors); !sameTensors(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
			if len(c.meta) > 0 && !mapsEqual(meta, c.meta) || len(c.meta) == 0 && meta != nil {
				t.Errorf("metadata: got %v want %v", meta, c.meta)
			}
			for _, g := range got { // empty tensors keep a non-nil slice, hence their dtype
				if g.DType() == "" {
					t.Errorf("tensor %q has no dtype after reading", g.Name)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestWriteByteExact checks a small file byte by byte against the layout
// computed by hand from the Hugging Face specification: compact JSON with
// __metadata__ first, tensors in name order with keys dtype, shape,
// data_offsets, padded with spaces so that 8+len(header) is a multiple of 8.
func TestWriteByteExact(t *testing.T) {
	tensors := []Tensor{
		{Name: "b", Shape: []int{2}, F32: []float32{1, -2}},
		{Name: "a", Shape: []int{}, F64: []float64{0.5}},
	}
	header := `{"__metadata__":{"format":"pt"},` +
		`"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]},` +
		`"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}` +
		"      " // 138 bytes of JSON + 6 spaces = 144
	want := []byte{144, 0, 0, 0, 0, 0, 0, 0}
	want = append(want, header...)
	want = append(want, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f) // a = 0.5 (0x3FE0000000000000)
	want = append(want, 0, 0, 0x80, 0x3f)             // b[0] = 1 (0x3F800000)
	want = append(want, 0, 0, 0, 0xc0)                // b[1] = -2 (0xC0000000)
	if len(header) != 144 || len(want) != 168 {
		t.Fatalf("test bug: header %d bytes, file %d", len(header), len(want))
	}
	got := encode(t, tensors, map[string]string{"format": "pt"})
	if !bytes.Equal(got, want) {
		t.Errorf("got:\n%q\nwant:\n%q", got, want)
	}
}

func TestWriteRejects(t *testing.T) {
	cases := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		msg     string
	}{
		{"no data", []Tensor{{Name: "x", Shape: []int{1}}}, nil, "exactly one"},
		{"two slices", []Tensor{{Name: "x", Shape: []int{1}, F32: []float32{1}, F64: []float64{1}}}, nil, "exactly one"},
		{"length", []Tensor{{Name: "x", Shape: []int{2, 2}, F32: []float32{1, 2, 3}}}, nil, "3 elements for shape [2 2]"},
		{"negative dim", []Tensor{{Name: "x", Shape: []int{-1}, F32: []float32{}}}, nil, "invalid shape"},
		{"duplicate", []Tensor{{Name: "x", Shape: []int{}, F32: []float32{1}}, {Name: "x", Shape: []int{}, F32: []float32{2}}}, nil, "duplicate"},
		{"reserved", []Tensor{{Name: "__metadata__", Shape: []int{}, F32: []float32{1}}}, nil, "reserved"},
		{"bad utf8", []Tensor{{Name: "\xff", Shape: []int{}, F32: []float32{1}}}, nil, "UTF-8"},
		{"bad utf8 metadata", nil, map[string]string{"k": "\xfe"}, "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteSafetensors(&buf, c.tensors, c.meta)
			if !errors.Is(err, ErrInvalidTensor) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want ErrInvalidTensor containing %q", err, c.msg)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written before the error", buf.Len())
			}
		})
	}
}

// rawFile builds a safetensors file from a literal header and data.
func rawFile(header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

func TestDecodeErrors(t *testing.T) {
	valid := encode(t, []Tensor{
		{Name: "a", Shape: []int{2}, F32: []float32{1, 2}},
		{Name: "b", Shape: []int{1}, F64: []float64{3}},
	}, nil)
	d16 := make([]byte, 16)
	hugeLen := binary.LittleEndian.AppendUint64(nil, 200<<20)
	cases := []struct {
		name string
		file []byte
		size int64 // 0: len(file)
		want error
		msg  string
	}{
		{"empty", nil, 0, ErrTruncated, "fewer than the 8-byte"},
		{"short prefix", []byte{1, 2, 3}, 0, ErrTruncated, "fewer than the 8-byte"},
		{"header past end", valid[:20], 0, ErrTruncated, "exceeds the 12 bytes"},
		{"data cut", valid[:len(valid)-1], 0, ErrTruncated, `tensor "b": data_offsets [8,16] reach past the 15-byte data area`},
		{"no data", valid[:len(valid)-16], 0, ErrTruncated, "reach past"},
		{"reader shorter than size", valid[:len(valid)-4], int64(len(valid)), ErrTruncated, "unexpected end of file"},
		{"header over limit", hugeLen, 300 << 20, ErrHeader, "exceeds the limit"},
		{"not an object", rawFile(`[]`, nil), 0, ErrHeader, "does not start with '{'"},
		{"empty header", rawFile(``, nil), 0, ErrHeader, "does not start with '{'"},
		{"invalid json", rawFile(`{"a":{"dtype":"F32",}}`, nil), 0, ErrHeader, "invalid JSON"},
		{"unclosed", rawFile(`{"a":{"dtype":"F32"`, nil), 0, ErrHeader, "invalid JSON"},
		{"invalid utf8", rawFile("{\"\xff\":1}", nil), 0, ErrHeader, "UTF-8"},
		{"unknown dtype", rawFile(`{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}`, d16[:4]), 0, ErrHeader, `tensor "a": unknown dtype "Q7"`},
		{"unsupported dtype", rawFile(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, d16[:4]), 0, ErrHeader, `unsupported dtype "F16"`},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, d16[:12]), 0, ErrHeader, `tensor "b": data_offsets [4,12] overlap tensor "a"`},
		{"gap", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, d16[:12]), 0, ErrHeader, "leave a gap after byte 4"},
		{"not at zero", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d16[:8]), 0, ErrHeader, "gap"},
		{"end before begin", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, d16[:8]), 0, ErrHeader, "end before they begin"},
		{"out of range", rawFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, d16[:8]), 0, ErrTruncated, "offsets out of range"},
		{"size vs shape", rawFile(`{"a":{"dtype":"F64","shape":[2,3],"data_offsets":[0,16]}}`, d16), 0, ErrHeader, "span 16 bytes but F64 shape [2 3] needs 48"},
		{"huge shape", rawFile(`{"a":{"dtype":"F64","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,8]}}`, d16[:8]), 0, ErrHeader, "too large"},
		{"trailing data", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, d16[:8]), 0, ErrHeader, "data area has 8 bytes but tensors cover 4"},
		{"duplicate tensor", rawFile(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}`, d16[:8]), 0, ErrHeader, `duplicate key "a"`},
		{"duplicate field", rawFile(`{"a":{"dtype":"F32","dtype":"F32","shape":[],"data_offsets":[0,4]}}`, d16[:4]), 0, ErrHeader, `duplicate key "dtype"`},
		{"unknown field", rawFile(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4],"stride":[1]}}`, d16[:4]), 0, ErrHeader, `unknown key "stride"`},
		{"case matters", rawFile(`{"a":{"DTYPE":"F32","shape":[],"data_offsets":[0,4]}}`, d16[:4]), 0, ErrHeader, `unknown key "DTYPE"`},
		{"missing dtype", rawFile(`{"a":{"shape":[],"data_offsets":[0,4]}}`, d16[:4]), 0, ErrHeader, "missing dtype"},
		{"missing shape", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, d16[:4]), 0, ErrHeader, "missing shape"},
		{"missing offsets", rawFile(`{"a":{"dtype":"F32","shape":[]}}`, nil), 0, ErrHeader, "missing data_offsets"},
		{"three offsets", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, d16[:4]), 0, ErrHeader, "3 values, want 2"},
		{"negative dim", rawFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, d16[:4]), 0, ErrHeader, "want an integer in"},
		{"fractional dim", rawFile(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, d16[:4]), 0, ErrHeader, "want an integer in"},
		{"string offset", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":["0",4]}}`, d16[:4]), 0, ErrHeader, "want an integer"},
		{"shape not array", rawFile(`{"a":{"dtype":"F32","shape":1,"data_offsets":[0,4]}}`, d16[:4]), 0, ErrHeader, "want '['"},
		{"tensor not object", rawFile(`{"a":[1]}`, nil), 0, ErrHeader, `tensor "a"`},
		{"metadata not strings", rawFile(`{"__metadata__":{"k":1}}`, nil), 0, ErrHeader, `__metadata__: key "k"`},
		{"text after object", rawFile(`{} x`, nil), 0, ErrHeader, "after the header object"},
		{"second object", rawFile(`{}{}`, nil), 0, ErrHeader, "after the header object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			size := c.size
			if size == 0 {
				size = int64(len(c.file))
			}
			ts, _, err := DecodeSafetensors(bytes.NewReader(c.file), size)
			if !errors.Is(err, c.want) {
				t.Fatalf("got error %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not contain %q", err, c.msg)
			}
			if ts != nil {
				t.Errorf("tensors returned with an error: %v", ts)
			}
		})
	}
}

// TestDecodeAccepts covers valid files that our writer does not produce.
func TestDecodeAccepts(t *testing.T) {
	d := binary.LittleEndian.AppendUint32(nil, math.Float32bits(7))
	d = binary.LittleEndian.AppendUint64(d, math.Float64bits(-1))
	// b stored before a, whitespace inside and after the JSON, no padding to 8.
	file := rawFile("{ \"a\" : {\"data_offsets\":[4,12],\"shape\":[1],\"dtype\":\"F64\"},\n\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}\n\t ", d)
	got, meta, err := DecodeSafetensors(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	want := []Tensor{{Name: "a", Shape: []int{1}, F64: []float64{-1}}, {Name: "b", Shape: []int{}, F32: []float32{7}}}
	if !sameTensors(got, want) || meta != nil {
		t.Errorf("got %+v %v, want %+v", got, meta, want)
	}
}

func TestReadSafetensorsPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	data := encode(t, []Tensor{{Name: "w", Shape: []int{3}, F32: []float32{1, 2, 3}}}, map[string]string{"format": "pt"})
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ts, meta, err := ReadSafetensors(path)
	if err != nil || len(ts) != 1 || !slices.Equal(ts[0].F32, []float32{1, 2, 3}) || meta["format"] != "pt" {
		t.Fatalf("got %v %v %v", ts, meta, err)
	}

	if err := os.WriteFile(path, data[:len(data)-2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = ReadSafetensors(path)
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), path) {
		t.Errorf("truncated: got %v, want ErrTruncated naming %s", err, path)
	}

	missing := filepath.Join(dir, "missing.safetensors")
	_, _, err = ReadSafetensors(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing: got %v, want fs.ErrNotExist naming %s", err, missing)
	}
}

func benchTensors() []Tensor {
	rng := rand.New(rand.NewPCG(3, 4))
	return []Tensor{randTensor(rng, "w", F32, 512, 512), randTensor(rng, "m", F64, 256, 256)}
}

func BenchmarkWriteSafetensors(b *testing.B) {
	ts := benchTensors()
	var buf bytes.Buffer
	_ = WriteSafetensors(&buf, ts, nil)
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := WriteSafetensors(&buf, ts, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSafetensors(b *testing.B) {
	var buf bytes.Buffer
	_ = WriteSafetensors(&buf, benchTensors(), nil)
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeSafetensors(bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}
