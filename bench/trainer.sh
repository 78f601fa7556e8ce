#!/usr/bin/env bash
# Benchmark of pix2pix-train's step against a plain PyTorch training step, in one run.
#
#   bench/trainer.sh [STEPS] [THREADS]     (ROUNDS=3 alternating rounds, best of each)
#
# Same networks (unet_256 / 70x70 PatchGAN, batch norm), batch 1, 256x256, same
# threads: steps per second of this trainer in fused and in separate mode, and of a
# plain PyTorch step with the reference's separate passes. Then a short real
# training run on a generated aligned dataset reports the share of time the step
# waited for data. Figures, not a pass/fail test. Needs `./run setup` first.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STEPS="${1:-5}"
THREADS="${2:-$(nproc)}"
ROUNDS="${ROUNDS:-3}"
PY="${PIX2PIX_PYTHON:-$HOME/.cache/pix2pix-gst/venv/bin/python}"
WORK="$ROOT/target/bench"
mkdir -p "$WORK"
cargo build --release -q -p pix2pix-train --example train_bench
echo "machine: $(nproc) cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | xargs); threads $THREADS; $STEPS timed steps per round, $ROUNDS rounds"
f=0; s=0; p=0
for r in $(seq "$ROUNDS"); do
  read -r fr sr < <("$ROOT/target/release/examples/train_bench" "$THREADS" "$STEPS" 2)
  pr=$("$PY" "$ROOT/tests/python/reference_pix2pix.py" bench-train --threads "$THREADS" --steps "$STEPS")
  echo "  round $r: fused $fr, separate $sr, PyTorch $pr steps/s"
  f=$(python3 -c "print(max($f, $fr))"); s=$(python3 -c "print(max($s, $sr))"); p=$(python3 -c "print(max($p, $pr))")
done
python3 - "$f" "$s" "$p" <<'PY'
import sys
f, s, p = map(float, sys.argv[1:])
print(f"{'':34s}{'steps/s':>9s}{'s/step':>9s}{'vs PyTorch':>12s}")
for name, v in (("pix2pix-train, fused", f), ("pix2pix-train, separate", s), ("PyTorch reference (separate)", p)):
    print(f"{name:34s}{v:9.3f}{1/v:9.3f}{v/p:11.2f}x")
print(f"fused / separate: {f/s:.2f}x")
PY
DATA="$WORK/aligned"
if [ ! -d "$DATA" ]; then
  mkdir -p "$DATA"
  "$PY" - "$DATA" <<'PY'
import sys, torch, zlib, struct
def png(path, w, h, rgb):
    raw = b"".join(b"\x00" + bytes(rgb[y * w * 3:(y + 1) * w * 3]) for y in range(h))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
g = torch.Generator().manual_seed(0)
for i in range(24):
    img = (torch.rand(256, 512, 3, generator=g) * 255).to(torch.uint8)
    png(f"{sys.argv[1]}/{i}.png", 512, 256, img.flatten().tolist())
PY
fi
rm -rf "$WORK/run"
"$ROOT/target/release/pix2pix-train" --threads "$THREADS" train "$DATA" -o "$WORK/run" --max-steps 12 --quiet \
  --sample-every 0 --checkpoint-every 0 2>&1 | grep -E "steps/s"
