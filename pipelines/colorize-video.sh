#!/usr/bin/env bash
# Colorize a video file: decode, to gray, pix2pixtranslate with preserve-luma, encode to MP4 (H.264), audio kept.
#
#   pipelines/colorize-video.sh IN OUT.mp4
#
# Options (environment): MODEL (default weights/colorize.safetensors), DEVICE (cpu, cuda),
# RESIZE (stretch|letterbox|pad|tile), BITRATE (kbit/s, default 4000).
set -euo pipefail
source "$(dirname "$0")/common.sh"
IN="${1:?usage: colorize-video.sh IN OUT.mp4}"; OUT="${2:?usage: colorize-video.sh IN OUT.mp4}"
MODEL="${MODEL:-$REPO_DIR/weights/colorize.safetensors}"
need_file "$IN" input; need_file "$MODEL" model
VIDEO="d. ! queue ! videoconvert ! videoconvert ! video/x-raw,format=GRAY8 ! videoconvert ! \
  pix2pixtranslate model-location=$MODEL device=${DEVICE:-cpu} resize-mode=${RESIZE:-stretch} preserve-luma=true ! \
  videoconvert ! video/x-raw,format=I420 ! x264enc bitrate=${BITRATE:-4000} speed-preset=medium ! h264parse ! queue ! mux."
AUDIO=""
if has_audio "$IN"; then
  AUDIO="d. ! queue ! audioconvert ! audioresample ! avenc_aac ! aacparse ! queue ! mux."
fi
# shellcheck disable=SC2086
gst-launch-1.0 -q -e filesrc location="$IN" ! decodebin name=d mp4mux name=mux ! filesink location="$OUT" $VIDEO $AUDIO
echo "wrote $OUT"
