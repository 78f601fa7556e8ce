#!/usr/bin/env python3
"""meson's bridge to cargo: `build` builds the workspace in release mode and
copies the plugin, the trainer and the server into meson's build folder; `test` runs the
cargo test suite. libtorch is found through the `.libtorch` link that
`./run setup` makes (or the LIBTORCH environment variable)."""
import os
import shutil
import subprocess
import sys


def main():
    mode, src, build = sys.argv[1], sys.argv[2], sys.argv[3]
    env = dict(os.environ)
    link = os.path.join(src, ".libtorch")
    if "LIBTORCH" not in env and not os.path.exists(link):
        sys.exit(f"{link} is missing: run `./run setup` first (it installs PyTorch 2.11.0 "
                 "in a virtual environment and links its libtorch there), or set LIBTORCH")
    if mode == "build":
        subprocess.run(["cargo", "build", "--release", "--workspace", "--lib", "--bins"],
                       cwd=src, env=env, check=True)
        target = os.path.join(src, "target", "release")
        for name in ("libgstpix2pix.so", "pix2pix-train", "pix2pix-serve"):
            shutil.copy2(os.path.join(target, name), os.path.join(build, name))
    elif mode == "test":
        env.setdefault("GST_REGISTRY", os.path.join(build, "gst-registry.bin"))
        subprocess.run(["cargo", "test", "--release", "--workspace"], cwd=src, env=env, check=True)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as e:
        sys.exit(e.returncode)
