package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sinklab/sinklab/checkpoints"
	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/transformer"
)

// loadedRun is a training run folder opened at one of its checkpoints.
type loadedRun struct {
	dir    string
	rc     trainRunConfig
	task   data.Task
	runner transformer.Runner
	ck     *checkpoints.Checkpoint
}

// readTrainConfig reads a train run folder's config.json.
func readTrainConfig(dir string) (trainRunConfig, error) {
	var rc trainRunConfig
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return rc, usagef("%s is not a run folder: %v", dir, err)
	}
	if err := json.Unmarshal(b, &rc); err != nil {
		return rc, usagef("%s: config.json: %v", dir, err)
	}
	if rc.Command != "train" {
		return rc, usagef("%s is a %q run, not a train run", dir, rc.Command)
	}
	return rc, nil
}

// openRunAt builds the run's model and loads checkpoint step (−1 = newest valid).
func openRunAt(dir string, step int64) (*loadedRun, error) {
	rc, err := readTrainConfig(dir)
	if err != nil {
		return nil, err
	}
	task, err := openTask(rc.Config, dir)
	if err != nil {
		return nil, err
	}
	runner, err := transformer.NewRunner(rc.Config, task)
	if err != nil {
		return nil, err
	}
	var ck *checkpoints.Checkpoint
	if step < 0 {
		ck, _, err = checkpoints.Latest(dir)
	} else {
		ck, err = checkpoints.LoadStep(dir, step)
	}
	if err == nil {
		err = restoreCheckpoint(runner, ck)
	}
	if err != nil {
		runner.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return &loadedRun{dir: dir, rc: rc, task: task, runner: runner, ck: ck}, nil
}
