#!/usr/bin/env bash
# Regenerates docs/report.png: two default induction runs (softmax and unnormalized
# sigmoid attention), their report, and a headless-Chromium screenshot of its top.
# Needs Debian's chromium. Run from the repository root: bash docs/report-screenshot.sh
set -euo pipefail
out=$(mktemp -d)
go build -o "$out/sinklab" ./cmd/sinklab
"$out/sinklab" train -q --out "$out" --run-id softmax >/dev/null
"$out/sinklab" train -q --out "$out" --run-id sigmoid --set model.attention=sigmoid >/dev/null
"$out/sinklab" report -q "$out/softmax" "$out/sigmoid" -o "$out/report.html"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$out/chrome" --hide-scrollbars --window-size=960,1575 \
  --screenshot="$PWD/docs/report.png" "file://$out/report.html" 2>/dev/null
echo "wrote docs/report.png (report: $out/report.html)"
