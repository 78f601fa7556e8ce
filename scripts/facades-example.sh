#!/usr/bin/env bash
# Writes weights/facades_example.png: the page's preset label maps
# (tests/data/facade_presets, drawn for this project) | what the shipped
# facades model makes of them. No CMP image is in it.
#
#   scripts/facades-example.sh [MODEL]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODEL="${1:-$ROOT/weights/facades_label2photo.safetensors}"
T="$ROOT/target/release/pix2pix-train"
W="$(mktemp -d)"; trap 'rm -rf "$W"' EXIT
cp "$ROOT"/tests/data/facade_presets/*.png "$W/"; mkdir -p "$W/labels"; mv "$W"/*.png "$W/labels/"
"$T" translate -m "$MODEL" "$W/labels" -o "$W/generated"
"$T" contact-sheet "$W/labels" "$W/generated" --labels "LABEL MAP,GENERATED" -o "$ROOT/weights/facades_example.png"
echo "wrote $ROOT/weights/facades_example.png"
