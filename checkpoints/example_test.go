package checkpoints_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/sinklab/sinklab/checkpoints"
)

// A trainer saves every so often and resumes from the newest valid checkpoint.
func ExampleLatest() {
	runDir, _ := os.MkdirTemp("", "run")
	defer os.RemoveAll(runDir)

	weights := []checkpoints.Tensor{{Name: "embed.W_E", Shape: []int{2, 3}, F32: []float32{1, 2, 3, 4, 5, 6}}}
	moments := []checkpoints.Tensor{{Name: "embed.W_E.m", Shape: []int{2, 3}, F32: make([]float32, 6)}}
	for step := int64(100); step <= 300; step += 100 {
		st := checkpoints.State{Step: step, Tokens: step * 512, Config: json.RawMessage(`{"d_model":3}`)}
		if _, err := checkpoints.Save(runDir, st, weights, moments, 2); err != nil {
			fmt.Println(err)
			return
		}
	}
	steps, _ := checkpoints.List(runDir)
	fmt.Println("kept steps:", steps)

	ck, skipped, err := checkpoints.Latest(runDir)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, reason := range skipped {
		fmt.Println("skipped:", reason) // a real trainer logs these
	}
	restored := []checkpoints.Tensor{{Name: "embed.W_E", Shape: []int{2, 3}, F32: make([]float32, 6)}}
	if err := checkpoints.CopyInto(restored, ck.Model); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("resume at step", ck.State.Step, "tokens", ck.State.Tokens, "weights", restored[0].F32)
	// Output:
	// kept steps: [200 300]
	// resume at step 300 tokens 153600 weights [1 2 3 4 5 6]
}

// The header of a safetensors file is JSON after an 8-byte length.
func ExampleWriteSafetensors() {
	var buf bytes.Buffer
	err := checkpoints.WriteSafetensors(&buf, []checkpoints.Tensor{
		{Name: "w", Shape: []int{2}, F32: []float32{0.5, -1}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		fmt.Println(err)
		return
	}
	b := buf.Bytes()
	fmt.Printf("%d bytes, header %q\n", len(b), b[8:len(b)-8])
	ts, meta, _ := checkpoints.DecodeSafetensors(bytes.NewReader(b), int64(len(b)))
	fmt.Println(ts[0].Name, ts[0].Shape, ts[0].F32, meta)
	// Output:
	// 104 bytes, header "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   "
	// w [2] [0.5 -1] map[format:pt]
}
