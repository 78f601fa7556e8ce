#!/usr/bin/env bash
# Live camera preview through the model (v4l2src → pix2pixtranslate → autovideosink).
#
#   pipelines/camera.sh [/dev/video0]
#
# Options (environment): MODEL (default weights/colorize.safetensors), DEVICE (cpu, cuda),
# WIDTH/HEIGHT of the capture (default 640x480), PRESERVE_LUMA (true).
# Late frames are dropped (QoS), so the preview stays live on a slow machine.
set -euo pipefail
source "$(dirname "$0")/common.sh"
CAM="${1:-/dev/video0}"
MODEL="${MODEL:-$REPO_DIR/weights/colorize.safetensors}"
need_file "$MODEL" model
[ -e "$CAM" ] || { echo "no camera at $CAM" >&2; exit 1; }
gst-launch-1.0 v4l2src device="$CAM" ! videoconvert ! videoscale ! \
  video/x-raw,width="${WIDTH:-640}",height="${HEIGHT:-480}" ! videoconvert ! video/x-raw,format=GRAY8 ! \
  videoconvert ! pix2pixtranslate model-location="$MODEL" device="${DEVICE:-cpu}" \
  preserve-luma="${PRESERVE_LUMA:-true}" ! videoconvert ! autovideosink sync=false
