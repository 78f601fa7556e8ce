#!/usr/bin/env bash
# Assembles the facades training data (a development step, not run by the product):
# the CMP facades set in pix2pix layout (photo left, label map right: labels→photo is
# BtoA), files 1..380 for training and 381..400 held out for validation.
#
#   scripts/make-facades-data.sh DATA [OUT]
#
# DATA is the folder holding the source material (the team's shared data folder,
# with facades/train); it is not part of this repository and is never read by
# the product. OUT defaults to ~/.cache/pix2pix-gst/data/facades.
set -euo pipefail
S="${1:?usage: scripts/make-facades-data.sh DATA [OUT]  (DATA: the folder with the source data set)}/facades/train"
[ -d "$S" ] || { echo "$S: no such folder" >&2; exit 1; }
D="${2:-$HOME/.cache/pix2pix-gst/data/facades}"
rm -rf "$D"; mkdir -p "$D/train" "$D/val"
cd "$S"
ls ./*.jpg | sed 's|^\./||' | sort -n | head -380 | while read -r f; do ln -s "$S/$f" "$D/train/$f"; done
ls ./*.jpg | sed 's|^\./||' | sort -n | tail -20 | while read -r f; do ln -s "$S/$f" "$D/val/$f"; done
echo "$(ls "$D/train" | wc -l) training pairs, $(ls "$D/val" | wc -l) held out, in $D"
