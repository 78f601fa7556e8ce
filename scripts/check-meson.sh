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
[ -n "$plugin" ] || { echo "plugin not installed into <libdir>/gstreamer-1.0" >&2; exit 1; }
[ -n "$trainer" ] || { echo "pix2pix-train not installed into <bindir>" >&2; exit 1; }
echo "installed: ${plugin#$STAGE} and ${trainer#$STAGE}"
inspect=$(env -u LD_LIBRARY_PATH GST_PLUGIN_PATH="$(dirname "$plugin")" GST_REGISTRY="$BUILD/registry.bin" \
  gst-inspect-1.0 pix2pixtranslate 2>&1) || true
grep -q "Klass.*Filter/Effect/Video" <<<"$inspect" || { echo "installed plugin does not load: $inspect" >&2; exit 1; }
env -u LD_LIBRARY_PATH "$trainer" --version
echo "meson: installed plugin loads, trainer runs"
