#!/usr/bin/env bash
# Checks the meson build: setup, compile (through cargo) and install into a
# staging folder, then loads the installed plugin from there with gst-inspect.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$ROOT/target/meson-build"
STAGE="$ROOT/target/meson-stage"
rm -rf "$STAGE"
if [ -d "$BUILD" ]; then meson setup --reconfigure "$BUILD" "$ROOT" --prefix=/usr/local >/dev/null
else meson setup "$BUILD" "$ROOT" --prefix=/usr/local >/dev/null; fi
meson compile -C "$BUILD" >/dev/null
DESTDIR="$STAGE" meson install -C "$BUILD" >/dev/null
plugin=$(find "$STAGE" -path '*gstreamer-1.0/libgstpix2pix.so' | head -1)
trainer=$(find "$STAGE" -path '*/bin/pix2pix-train' | head -1)
server=$(find "$STAGE" -path '*/bin/pix2pix-serve' | head -1)
weights=$(find "$STAGE" -path '*/share/pix2pix-gst/weights' -type d | head -1)
[ -n "$plugin" ] || { echo "plugin not installed into <libdir>/gstreamer-1.0" >&2; exit 1; }
[ -n "$trainer" ] || { echo "pix2pix-train not installed into <bindir>" >&2; exit 1; }
[ -n "$server" ] || { echo "pix2pix-serve not installed into <bindir>" >&2; exit 1; }
[ -n "$weights" ] && [ -f "$weights/facades_label2photo.safetensors" ] && [ -f "$weights/colorize.safetensors" ] \
  || { echo "models not installed into <datadir>/pix2pix-gst/weights" >&2; exit 1; }
echo "installed: ${plugin#$STAGE}, ${trainer#$STAGE}, ${server#$STAGE}, models in ${weights#$STAGE}"
inspect=$(env -u LD_LIBRARY_PATH GST_PLUGIN_PATH="$(dirname "$plugin")" GST_REGISTRY="$BUILD/registry.bin" \
  gst-inspect-1.0 pix2pixtranslate 2>&1) || true
grep -q "Klass.*Filter/Effect/Video" <<<"$inspect" || { echo "installed plugin does not load: $inspect" >&2; exit 1; }
env -u LD_LIBRARY_PATH "$trainer" --version
# The installed server finds the installed models by itself and lists them.
log="$BUILD/serve.log"
env -u LD_LIBRARY_PATH -u PIX2PIX_WEIGHTS "$server" --port 0 --threads 1 --quiet >"$log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.2; done
kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
models=$(head -1 "$log")
grep -q "facades_label2photo" <<<"$models" && grep -q "colorize" <<<"$models" \
  || { echo "installed pix2pix-serve does not find the installed models: $models" >&2; exit 1; }
echo "meson: installed plugin loads, trainer runs, server finds the models ($models)"
