#!/usr/bin/env bash
# Translate a facade label map (PNG in the 12 CMP label colours) into a photo.
#
#   pipelines/facades.sh LABELS.png OUT.png
#
# Options (environment): MODEL (default weights/facades_label2photo.safetensors), RESIZE
# (stretch keeps the 256x256 training geometry; pad runs at the label map's own size).
set -euo pipefail
source "$(dirname "$0")/common.sh"
IN="${1:?usage: facades.sh LABELS.png OUT.png}"; OUT="${2:?usage: facades.sh LABELS.png OUT.png}"
MODEL="${MODEL:-$REPO_DIR/weights/facades_label2photo.safetensors}"
need_file "$IN" input; need_file "$MODEL" model
gst-launch-1.0 -q filesrc location="$IN" ! decodebin ! imagefreeze num-buffers=1 ! videoconvert ! \
  pix2pixtranslate model-location="$MODEL" resize-mode="${RESIZE:-stretch}" ! \
  videoconvert ! pngenc ! filesink location="$OUT"
echo "wrote $OUT"
