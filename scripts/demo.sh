#!/usr/bin/env bash
# The main job of `./run demo`: run pix2pixtranslate in a real GStreamer pipeline.
# Uses weights/colorize.safetensors when present; until the shipped models exist it
# makes a small untrained generator, so what you see is the pipeline working, not
# a trained translation.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/out}"
FRAMES="${DEMO_FRAMES:-60}"
mkdir -p "$OUT/demo"
rm -f "$OUT"/demo/frame-*.png
TRAIN="$ROOT/target/release/pix2pix-train"

MODEL="$ROOT/weights/colorize.safetensors"
if [ ! -f "$MODEL" ]; then
  MODEL="$OUT/untrained-unet128.safetensors"
  if [ ! -f "$MODEL" ]; then
    echo "no shipped model yet: making a small untrained generator ($MODEL)"
    "$TRAIN" init --netg unet_128 --ngf 16 --input-nc 1 --output-nc 3 --image-size 128 \
      --task untrained-demo --seed 1 --out "$MODEL"
  fi
fi
"$TRAIN" info "$MODEL" | tail -2

echo "translating $FRAMES frames of a 320x240 test pattern (gray in, colour out)"
start=$(date +%s.%N)
gst-launch-1.0 -q \
  videotestsrc num-buffers="$FRAMES" pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! \
  videoconvert ! video/x-raw,format=GRAY8 ! \
  pix2pixtranslate model-location="$MODEL" preserve-luma=true ! \
  videoconvert ! pngenc ! multifilesink location="$OUT/demo/frame-%03d.png"
end=$(date +%s.%N)
n=$(ls "$OUT"/demo/frame-*.png | wc -l)
[ "$n" -eq "$FRAMES" ] || { echo "expected $FRAMES frames, got $n" >&2; exit 1; }
fps=$(python3 -c "print(f'{$n/($end-$start):.1f}')")
echo
echo "done: $n frames in $(python3 -c "print(f'{$end-$start:.1f}')") s, $fps frames per second (including start-up)"
echo "frames: $OUT/demo/frame-000.png ... frame-$(printf %03d $((n-1))).png"
