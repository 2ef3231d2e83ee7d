package checkpoints

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzReadSafetensors feeds arbitrary bytes to the reader. It must never
// panic, every error must be ErrTruncated or ErrHeader, and whatever it
// accepts must survive a write/read round trip unchanged. The seed corpus (a
// valid file, its truncations and a few hand-made headers) is what plain
// `go test` runs; fuzz with
//
//	go test -run '^$' -fuzz FuzzReadSafetensors -fuzztime 20s ./checkpoints
func FuzzReadSafetensors(f *testing.F) {
	var buf bytes.Buffer
	err := WriteSafetensors(&buf, []Tensor{
		{Name: "w", Shape: []int{2, 2}, F32: []float32{1, -2, 3.5, 0}},
		{Name: "s", Shape: []int{}, F64: []float64{0.125}},
		{Name: "ids", Shape: []int{3}, I64: []int64{-1, 0, 7}},
		{Name: "e", Shape: []int{0, 5}, F32: []float32{}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		f.Fatal(err)
	}
	valid := buf.Bytes()
	f.Add(valid)
	for _, n := range []int{0, 4, 8, 9, 40, len(valid) / 2, len(valid) - 8, len(valid) - 1} {
		f.Add(valid[:n])
	}
	f.Add(rawFile(`{}`, nil))
	f.Add(rawFile(`{"__metadata__":{"a":"b"}}`, nil))
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}`, make([]byte, 6)))
	f.Add(rawFile(`{"a":{"dtype":"I64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil))

	f.Fuzz(func(t *testing.T, data []byte) {
		ts, meta, err := DecodeSafetensors(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrHeader) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		var out bytes.Buffer
		if err := WriteSafetensors(&out, ts, meta); err != nil {
			t.Fatalf("accepted tensors cannot be written back: %v", err)
		}
		ts2, meta2, err := DecodeSafetensors(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !sameTensors(ts, ts2) || len(meta) != len(meta2) || !mapsEqual(meta, meta2) {
			t.Fatalf("round trip changed the tensors: %+v -> %+v", ts, ts2)
		}
	})
}
