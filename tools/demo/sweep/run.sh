#!/bin/sh
# The shape sweep of Models/README.md: each config of this folder, DEMO_TRAIN's recipe, one after
# another (so wall times compare). Usage: tools/demo/sweep/run.sh STEPS SEED OUTDIR [CONFIG...]
set -e
steps=$1; seed=$2; out=$3; shift 3
demo=.build/demo
for cfg in "$@"; do
  name=$(basename "$cfg" .json)
  rm -rf "$out/$name.s$seed"
  start=$(date +%s)
  .build/release/polycom train --init "$cfg" --tokenizer $demo/tokenizer --init-seed "$seed" \
    --data $demo/corpus/train.jsonl --val-data $demo/corpus/val.jsonl \
    --seq-len 256 --batch-size 8 --lr 2e-3 --warmup-steps 50 --eval-every 100 --save-every "$steps" \
    --save-dtype bf16 --seed "$seed" --threads 2 --steps "$steps" --out "$out/$name.s$seed"
  echo "$name seed $seed: $(( $(date +%s) - start )) s"
done
