#!/usr/bin/env bash
# Colorize a single image (any format decodebin reads) into a PNG.
#
#   pipelines/colorize-image.sh IN OUT.png
#
# Options (environment): MODEL (default weights/colorize.safetensors), RESIZE (stretch|letterbox|pad|tile).
set -euo pipefail
source "$(dirname "$0")/common.sh"
IN="${1:?usage: colorize-image.sh IN OUT.png}"; OUT="${2:?usage: colorize-image.sh IN OUT.png}"
MODEL="${MODEL:-$REPO_DIR/weights/colorize.safetensors}"
need_file "$IN" input; need_file "$MODEL" model
gst-launch-1.0 -q filesrc location="$IN" ! decodebin ! imagefreeze num-buffers=1 ! videoconvert ! \
  video/x-raw,format=GRAY8 ! videoconvert ! \
  pix2pixtranslate model-location="$MODEL" resize-mode="${RESIZE:-stretch}" preserve-luma=true ! \
  videoconvert ! pngenc ! filesink location="$OUT"
echo "wrote $OUT"
