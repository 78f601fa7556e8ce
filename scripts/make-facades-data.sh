#!/usr/bin/env bash
# Assembles the facades training data (a development step, not run by the product):
# the CMP facades set in pix2pix layout (photo left, label map right: labels→photo is
# BtoA), files 1..380 for training and 381..400 held out for validation.
#
#   scripts/make-facades-data.sh [SHARED_DATA] [OUT]
set -euo pipefail
S="${1:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}/facades/train"
D="${2:-$HOME/.cache/pix2pix-gst/data/facades}"
rm -rf "$D"; mkdir -p "$D/train" "$D/val"
cd "$S"
ls ./*.jpg | sed 's|^\./||' | sort -n | head -380 | while read -r f; do ln -s "$S/$f" "$D/train/$f"; done
ls ./*.jpg | sed 's|^\./||' | sort -n | tail -20 | while read -r f; do ln -s "$S/$f" "$D/val/$f"; done
echo "$(ls "$D/train" | wc -l) training pairs, $(ls "$D/val" | wc -l) held out, in $D"
