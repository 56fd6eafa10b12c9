"""Rendering memory and time: ``dc.render.animate`` against matplotlib's ``PillowWriter``.

A 256x256 tank (a diffusing Gaussian, one panel) is rendered to a GIF with 10
and with 200 frames, each in its own subprocess, which reports its peak
resident memory (``ru_maxrss``) and its wall time. ``animate`` streams: each
frame is drawn and handed to the writer, so the peak with 200 frames stays
within 100 MB of the peak with 10 (the frames of the result itself, 200 x
256 x 256 float32 = 52 MB, are part of both). The alternative, matplotlib's
``FuncAnimation`` saved with ``PillowWriter``, keeps every frame until the end;
it draws a figure of the size ``animate`` gives one 2-D panel (so both draw the
same pixels). Both are timed side by side in one run and the ratios printed.

    python -m benchmarks.bench_render [--quick] [--json]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from ._common import run_from_command_line

CHILD = r"""
import os, sys, time
import numpy as np

def hwm_kb():  # peak resident memory of this process (VmHWM: reset by exec, unlike ru_maxrss)
    with open("/proc/self/status") as fh:
        return int(next(line for line in fh if line.startswith("VmHWM")).split()[1])

frames_n, size, which, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
figsize = (float(sys.argv[5]), float(sys.argv[6]))
x = np.arange(size) - size / 2
r2 = x[:, None] ** 2 + x[None, :] ** 2
frames = np.empty((frames_n, size, size), np.float32)  # the run's frames, built one at a time
for i, var in enumerate(np.linspace(4.0, (size / 6) ** 2, frames_n)):
    frames[i] = np.exp(-r2 / (2 * var)) / (2 * np.pi * var)
if which == "animate":
    import diffusion_conv as dc
    import diffusion_conv.render, matplotlib.figure, imageio.v2
else:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter
base = hwm_kb()
t = time.perf_counter()
if which == "animate":
    steps = np.arange(frames_n)
    res = dc.Result("propagator", steps, steps * 1.0, frames, np.zeros(frames_n), 0.0, {"dx": 1.0})
    dc.render.animate(res, path, fps=20, dpi=80)
else:
    fig, ax = plt.subplots(figsize=figsize, dpi=80)
    im = ax.imshow(frames[0], vmin=float(frames.min()), vmax=float(frames.max()))
    ax.set_axis_off()
    title = ax.set_title("")
    def update(i):
        im.set_data(frames[i])
        title.set_text(f"step {i}")
        return im, title
    FuncAnimation(fig, update, frames=frames_n).save(path, writer=PillowWriter(fps=20))
elapsed = time.perf_counter() - t
peak = hwm_kb()
print(f"{peak} {base} {elapsed} {os.path.getsize(path)}")
"""


def _panel_inches():
    """The figure size (inches) ``animate`` gives one 2-D field."""
    import types

    import numpy as np

    from diffusion_conv.render.panels import Panels

    return Panels.inches([types.SimpleNamespace(frames=np.zeros((1, 2, 2)))], False)


def _measure(frames, size, which, folder, timeout=900):
    path = os.path.join(folder, f"{which}-{frames}.gif")
    env = dict(os.environ, MPLBACKEND="Agg")
    width, height = _panel_inches()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(frames), str(size), which, path, str(width), str(height)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{which} with {frames} frames failed:\n{proc.stderr[-2000:]}")
    peak_kb, base_kb, elapsed, nbytes = proc.stdout.split()[-4:]
    return {
        "peak_mb": int(peak_kb) / 1024,
        "before_render_mb": int(base_kb) / 1024,
        "render_growth_mb": (int(peak_kb) - int(base_kb)) / 1024,
        "seconds": float(elapsed),
        "file_mb": int(nbytes) / 2**20,
        "frames": frames,
    }


def run(frames=(10, 200), size=256):
    """Peak memory and time of both renderers for each frame count; returns the figures as a dict."""
    from ._common import machine

    out = {"machine": machine(), "size": size, "frames": list(frames), "figure_inches": list(_panel_inches())}
    with tempfile.TemporaryDirectory() as folder:
        for which in ("animate", "pillowwriter"):
            out[which] = {str(n): _measure(n, size, which, folder) for n in frames}
    lo, hi = str(frames[0]), str(frames[-1])
    for which in ("animate", "pillowwriter"):
        out[which]["growth_mb"] = out[which][hi]["peak_mb"] - out[which][lo]["peak_mb"]
        out[which]["seconds_per_frame"] = out[which][hi]["seconds"] / frames[-1]
    out["animate_growth_within_100mb"] = out["animate"]["growth_mb"] < 100.0
    out["time_ratio_pillowwriter_over_animate"] = out["pillowwriter"][hi]["seconds"] / out["animate"][hi]["seconds"]
    out["growth_ratio_pillowwriter_over_animate"] = out["pillowwriter"]["growth_mb"] / max(
        out["animate"]["growth_mb"], 1.0
    )
    return out


def main(argv=None) -> dict:
    """Run the benchmark and print its figures; ``--quick`` renders 10 and 60 frames of 128x128."""
    res, printed = run_from_command_line(
        __doc__, lambda quick: run(frames=(10, 60), size=128) if quick else run(), argv, "10 and 60 frames of 128x128"
    )
    if printed:
        return res
    m = res["machine"]
    lo, hi = (str(f) for f in (res["frames"][0], res["frames"][-1]))
    print(f"GIF rendering, {res['size']}x{res['size']} tank, {lo} and {hi} frames ({m['cpu']}, {m['cores']} cores)")
    for which in ("animate", "pillowwriter"):
        r = res[which]
        print(
            f"  {which:13s} peak {r[lo]['peak_mb']:7.1f} MB ({lo} frames)  {r[hi]['peak_mb']:7.1f} MB ({hi} frames)"
            f"  growth {r['growth_mb']:6.1f} MB  (while rendering {hi}: +{r[hi]['render_growth_mb']:.1f} MB)"
            f"  {r['seconds_per_frame'] * 1e3:6.1f} ms/frame"
            f"  file {r[hi]['file_mb']:.2f} MB"
        )
    print(
        f"  growth within 100 MB: {res['animate_growth_within_100mb']}; PillowWriter grows "
        f"{res['growth_ratio_pillowwriter_over_animate']:.1f}x as much and takes "
        f"{res['time_ratio_pillowwriter_over_animate']:.2f}x the time"
    )
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
