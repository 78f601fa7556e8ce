# Shared by the pipeline scripts: finds the plugin and the default models.
# shellcheck shell=bash
PIPELINES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$PIPELINES_DIR/.." && pwd)"
# The plugin built in this checkout, unless one is installed or GST_PLUGIN_PATH is set.
if [ -z "${GST_PLUGIN_PATH:-}" ] && [ -f "$REPO_DIR/target/release/libgstpix2pix.so" ]; then
  export GST_PLUGIN_PATH="$REPO_DIR/target/release"
fi
export GST_REGISTRY="${GST_REGISTRY:-$REPO_DIR/target/gst-registry.bin}"
has_audio() { local info; info=$(gst-discoverer-1.0 "$1" 2>/dev/null || true); grep -q "audio #" <<<"$info"; }
need_file() { [ -f "$1" ] || { echo "$2: $1 not found" >&2; exit 1; }; }
