#!/bin/bash
# AuxK on digits × STAN (issue 15): seeds × {AuxK off, on}, otherwise the same settings; each run
# is `npm run cli -- latents --eval` (training-window and held-out metrics, validation loss).
# Then scripts/auxk-summary.mjs writes docs/figures/auxk/results.json. Usage:
#   bash scripts/auxk-digits.sh [outdir] [steps] [seeds…]     (defaults: /tmp/auxk 200 1 2 3)
set -euo pipefail
OUT=${1:-/tmp/auxk}
STEPS=${2:-200}
shift 2 || true
SEEDS=${*:-1 2 3}
mkdir -p "$OUT"
for seed in $SEEDS; do
  for aux in 0 32; do
    out=$OUT/seed${seed}-aux${aux}.json
    [ -s "$out" ] && continue
    nice -n 10 npm run -s cli -- latents --config "task=digits&adapter.kind=stan&adapter.stan.k=4&adapter.stan.expansion=4&adapter.stan.auxK=${aux}&adapter.stan.auxDeadSteps=20&training.seed=${seed}&training.steps=${STEPS}" --steps "$STEPS" --eval --out "$out" 2> "$OUT/seed${seed}-aux${aux}.log"
  done
done
node scripts/auxk-summary.mjs "$OUT" docs/figures/auxk/results.json
