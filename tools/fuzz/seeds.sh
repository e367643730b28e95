#!/usr/bin/env bash
# Fills a fuzz target's corpus folder with its seeds: the fixtures of its kind, cut to a few
# rows where they are long files, plus the hand-written ones in tools/fuzz/seeds/<target>.
# Usage: tools/fuzz/seeds.sh TARGET CORPUS_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
target=$1 out=$2
mkdir -p "$out"
put() { cp "$1" "$out/$(echo "$1" | tr / _)"; }
# The first N lines of a JSONL file, gzip-compressed or not. head exits after N lines, so zcat
# may die of SIGPIPE (141) on a long file: that one status is expected, any other fails.
head_lines() {
    local status=0
    zcat -f "$1" | head -n "$2" > "$out/$(echo "$1" | tr / _).head$2" || status=$?
    [ "$status" -eq 0 ] || [ "$status" -eq 141 ] || { echo "seeds: cannot read $1" >&2; exit "$status"; }
}
case $target in
    safetensors) for f in $(find Tests/Fixtures -name '*.safetensors' -size -300k); do put "$f"; done ;;
    config) for f in $(find Tests/Fixtures -name config.json -o -name generation_config.json); do put "$f"; done ;;
    tokenizer) put Tests/Fixtures/training/byte-tokenizer/tokenizer.json
               put Tests/Fixtures/tokenizers/variants/trained-subword.tokenizer.json ;;
    eval-rows) for f in Tests/Fixtures/eval/*.jsonl Tests/Fixtures/eval/olmo/*.gz; do head_lines "$f" 3; done
               put Tests/Fixtures/eval/olmo/arc_easy.requests.jsonl.gz ;;
    training-data) for f in Tests/Fixtures/training/*.jsonl Tests/Fixtures/demo/heldout.jsonl; do head_lines "$f" 4; done ;;
    completions|loglikelihood|http) ;;
    *) echo "unknown fuzz target '$target'" >&2; exit 1 ;;
esac
if [ -d "tools/fuzz/seeds/$target" ]; then for f in tools/fuzz/seeds/"$target"/*; do put "$f"; done; fi
