#!/usr/bin/env bash
# The main job of `./run demo`: colorize the sample clip that ships in the repository.
# The clip is turned gray first, then colorized by pix2pixtranslate with the shipped
# colorize model (preserve-luma), so the result can be compared with the original.
# Writes OUT/demo/cup_colorized.mp4 and OUT/demo/contact_sheet.png (gray | colorized |
# original, a few frames) and prints frames per second.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/out}/demo"
CLIP="${DEMO_CLIP:-$ROOT/pipelines/media/cup.mp4}"
MODEL="${MODEL:-$ROOT/weights/colorize.safetensors}"
TRAIN="$ROOT/target/release/pix2pix-train"
export GST_PLUGIN_PATH="$ROOT/target/release" GST_REGISTRY="${GST_REGISTRY:-$ROOT/target/gst-registry.bin}"
[ -f "$MODEL" ] || { echo "model $MODEL not found" >&2; exit 1; }
[ -f "$CLIP" ] || { echo "clip $CLIP not found" >&2; exit 1; }
rm -rf "$OUT"; mkdir -p "$OUT"
echo "model: $("$TRAIN" info "$MODEL" | awk '/^architecture/{print $2, $3, $4, $5, $6, $7}')"
echo "clip:  $CLIP"

frames=$(gst-launch-1.0 filesrc location="$CLIP" ! decodebin ! videoconvert ! videoscale ! \
  video/x-raw,width=16,height=12 ! fakesink silent=false -v 2>&1 | grep -c "fakesink0: last-message = chain") || true
echo "colorizing $frames frames (decode, to gray, pix2pixtranslate preserve-luma=true, x264, audio kept)..."
start=$(date +%s.%N)
MODEL="$MODEL" bash "$ROOT/pipelines/colorize-video.sh" "$CLIP" "$OUT/cup_colorized.mp4" >/dev/null
end=$(date +%s.%N)

# A few frames of each version for the contact sheet (every 2 s, 320x240).
grab() { # source-chain dir
  mkdir -p "$2"
  # shellcheck disable=SC2086
  gst-launch-1.0 -q filesrc location="$1" ! decodebin ! videoconvert ! videorate ! video/x-raw,framerate=1/2 ! \
    videoscale ! video/x-raw,width=320,height=240 ! videoconvert ! $3 videoconvert ! pngenc ! \
    multifilesink location="$2/%03d.png"
}
grab "$CLIP" "$OUT/frames/gray" "video/x-raw,format=GRAY8 !"
grab "$OUT/cup_colorized.mp4" "$OUT/frames/colorized" ""
grab "$CLIP" "$OUT/frames/original" ""
"$TRAIN" contact-sheet "$OUT/frames/gray" "$OUT/frames/colorized" "$OUT/frames/original" \
  --labels "GRAY INPUT,COLORIZED,ORIGINAL" -o "$OUT/contact_sheet.png" 2>/dev/null

python3 - "$frames" "$start" "$end" <<'PY'
import sys
n, a, b = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"done: {n} frames in {b - a:.1f} s = {n / (b - a):.1f} frames per second "
      f"(decode, gray, translate, encode; start-up included)")
PY
echo "colorized clip: $OUT/cup_colorized.mp4"
echo "contact sheet:  $OUT/contact_sheet.png   (gray input | colorized | original)"
