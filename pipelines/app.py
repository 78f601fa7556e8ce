#!/usr/bin/python3
"""How a Python media app uses pix2pixtranslate (GObject introspection).

    pipelines/app.py IN.mp4 [MODEL] [FRAMES]

Decodes a video, translates each frame and pulls the results from an appsink:
prints each frame's timestamp and mean colour, and the element's timing statistics.
Needs Debian's python3-gi and gir1.2-gst-plugins-base-1.0, and the plugin on
GST_PLUGIN_PATH (pipelines/common.sh sets it for scripts; set it yourself here).
"""
import os
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1]
    model = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "weights", "colorize.safetensors")
    frames = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    Gst.init(None)
    pipeline = Gst.parse_launch(
        f'filesrc location="{src}" ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=320,height=240 ! '
        f"videoconvert ! pix2pixtranslate name=p2p model-location=\"{model}\" preserve-luma=true ! "
        "videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false max-buffers=4"
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    got = 0
    while got < frames:
        sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
        if sample is None:
            break
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        data = info.data
        n = len(data) // 3
        means = [sum(data[c::3]) / n for c in range(3)]
        buf.unmap(info)
        print(f"frame {got}: pts {buf.pts / Gst.SECOND:.3f} s, mean RGB {means[0]:.1f} {means[1]:.1f} {means[2]:.1f}")
        got += 1
    p2p = pipeline.get_by_name("p2p")
    print(f"frames processed: {p2p.get_property('frames-processed')}, "
          f"mean inference: {p2p.get_property('inference-ms-mean'):.1f} ms")
    pipeline.set_state(Gst.State.NULL)
    return 0 if got > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
