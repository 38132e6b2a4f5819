#!/usr/bin/env bash
# Regenerates docs/images/fmnist_*.png (the README's position-similarity figures) from a finished
# Fashion-MNIST study: the seed-0 learnable-PE models of the basic and LaPE joins, drawn by the same
# `lape visualize` / `lape compare-pe` commands a user runs.
#   usage: bash scripts/study-figures.sh [STUDY_DIR]   (default runs/study-fmnist; needs `npm run build`)
set -euo pipefail
cd "$(dirname "$0")/.."
study=${1:-runs/study-fmnist}
basic="$study/learnable_basic_s0/checkpoint.pth"
lape="$study/learnable_LaPE_s0/checkpoint.pth"
for ckpt in "$basic" "$lape"; do
  [[ -f $ckpt ]] || { echo "study-figures: $ckpt is missing (run the study first)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node bin/lape.js visualize --ckpt-path "$basic" --save-dir "$tmp/basic"
node bin/lape.js visualize --ckpt-path "$lape" --save-dir "$tmp/lape"
node bin/lape.js compare-pe "$basic" "$lape" --save-dir "$tmp/compare"
mkdir -p docs/images
cp "$tmp/basic/overview.png" docs/images/fmnist_basic_overview.png
cp "$tmp/lape/overview.png" docs/images/fmnist_lape_overview.png
cp "$tmp/compare/compare_overall.png" docs/images/fmnist_compare_overall.png
cp "$tmp/compare/compare_token.png" docs/images/fmnist_compare_token.png
echo "study-figures: wrote docs/images/fmnist_{basic,lape}_overview.png, fmnist_compare_{overall,token}.png from $study"
