#!/usr/bin/env bash
# Speed comparison in one sitting: the PyTorch peer (../shared/bench/peer_torch.py,
# one thread) and sinklab's benchmarks on the same configs (both cores, then one).
# Needs Debian's python3-torch and libopenblas0-pthread. Run from the repository root.
set -euo pipefail
peer=${PEER:-../shared/bench/peer_torch.py}
echo "== PyTorch peer (1 thread)"
OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$peer" --steps 200
echo "== sinklab transformer (cores: -2 = both, no suffix = GOMAXPROCS 1)"
go test ./transformer/ -run '^$' -bench 'Train(Tiny|Induction)$|TrainTinyProbes' -benchtime 3s -cpu 2,1
echo "== sinklab E1 toy model (one core)"
go test ./attention/ -run '^$' -bench 'E1Step' -benchtime 2s -cpu 1
