#!/usr/bin/env bash
# A before/after video: the gray input on the left, the colorized result on the right (compositor).
#
#   pipelines/side-by-side.sh IN OUT.mp4
#
# Options (environment): MODEL (default weights/colorize.safetensors), WIDTH and HEIGHT of
# each half (default 640x480).
set -euo pipefail
source "$(dirname "$0")/common.sh"
IN="${1:?usage: side-by-side.sh IN OUT.mp4}"; OUT="${2:?usage: side-by-side.sh IN OUT.mp4}"
MODEL="${MODEL:-$REPO_DIR/weights/colorize.safetensors}"
W="${WIDTH:-640}"; H="${HEIGHT:-480}"
need_file "$IN" input; need_file "$MODEL" model
gst-launch-1.0 -q -e compositor name=mix sink_1::xpos="$W" ! videoconvert ! video/x-raw,format=I420 ! \
  x264enc bitrate=6000 speed-preset=medium ! h264parse ! mp4mux ! filesink location="$OUT" \
  filesrc location="$IN" ! decodebin ! videoconvert ! videoscale ! video/x-raw,width="$W",height="$H" ! \
  videoconvert ! video/x-raw,format=GRAY8 ! tee name=t \
  t. ! queue ! videoconvert ! mix.sink_0 \
  t. ! queue ! videoconvert ! pix2pixtranslate model-location="$MODEL" preserve-luma=true ! videoconvert ! mix.sink_1
echo "wrote $OUT"
