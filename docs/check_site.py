"""Load every page of the built site in headless Chromium and fail on anything a reader would see broken.

    python docs/check_site.py [--site docs/_build/html] [--screenshots docs/_build/screenshots]

The site is served from ``127.0.0.1`` on a free port; Chromium (Debian's ``chromium``) is driven
over the DevTools protocol through a pipe (``--remote-debugging-pipe``), with the standard library
only. A page fails on:

- a console error, an uncaught exception or a browser log entry of level error;
- a request that fails, that returns an HTTP status of 400 or more, or that goes anywhere but the
  local server (the site must work offline: no CDN);
- an image that does not load (``naturalWidth == 0``);
- math that did not render: a ``.math`` element without MathJax output, a MathJax error, or raw
  ``$...$``, ``\\(...\\)`` or ``\\[...\\]`` left in the text outside code;
- on a page that is a notebook (cells executed at build time): no figure among the cells' outputs,
  a figure that is blank (one colour throughout), or an output that is an error or text on stderr.

Screenshots of the index, the gallery and every notebook page are saved as PNG files. Exit code 0
when every page passes, 1 otherwise (each problem on one line), 2 when Chromium or the site is
missing.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads", ".doctrees"}
SCREENSHOTS = {"index.html": "index.png", "gallery/index.html": "gallery.png"}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--no-default-browser-check",
    "--window-size=1280,1000",
    "--remote-debugging-pipe",
]
PAGE_TIMEOUT_S = 60

# After the load event: wait for every image and for MathJax, then report what is broken.
INSPECT = r"""
(async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = "eager"; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.addEventListener("load", r); i.addEventListener("error", r); setTimeout(r, 15000); })));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.currentSrc || i.src);
  const math = Array.from(document.querySelectorAll(".math"));
  const untypeset = math.filter(m => !m.querySelector("mjx-container")).map(m => m.textContent.slice(0, 60));
  const errors = Array.from(document.querySelectorAll("mjx-merror")).map(e => e.textContent.slice(0, 60));
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll("pre, code, script, style, .highlight, mjx-container, .math").forEach(e => e.remove());
  const text = clone.textContent;
  const raw = [];
  for (const re of [/\$\$[^$]+\$\$/g, /(^|[^\\$\w])\$[^$\s][^$\n]{0,200}?[^$\s\\]\$(?![\w$])/g,
                    /\\\([^)]*\\\)/g, /\\\[[\s\S]*?\\\]/g]) {
    for (const m of text.matchAll(re)) { raw.push(m[0].trim().slice(0, 60)); }
  }
  // a notebook page: its cells' figures must be there and show something, and no cell may have failed
  const cells = document.querySelectorAll("div.cell");
  const figures = Array.from(document.querySelectorAll("div.cell_output img"));
  const blank = figures.filter(i => i.naturalWidth > 0 && oneColour(i)).map(i => i.currentSrc || i.src);
  const failed = Array.from(document.querySelectorAll(
    "div.cell_output .output.traceback, div.cell_output .output.stderr")).map(e => e.textContent.trim().slice(0, 120));
  return JSON.stringify({images: imgs.length, broken, math: math.length, untypeset, errors, raw,
                         title: document.title, notebook: cells.length > 0, cells: cells.length,
                         figures: figures.length, blank: blank.map(s => s.slice(0, 80)), failed});
  function oneColour(img) {
    const w = Math.min(img.naturalWidth, 400), h = Math.min(img.naturalHeight, 400);
    const canvas = document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0, w, h);
    const px = ctx.getImageData(0, 0, w, h).data;
    for (let k = 4; k < px.length; k += 4) {
      if (px[k] !== px[0] || px[k + 1] !== px[1] || px[k + 2] !== px[2] || px[k + 3] !== px[3]) { return false; }
    }
    return true;
  }
})()
"""


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Chromium:
    """A headless Chromium driven over the DevTools protocol on file descriptors 3 (in) and 4 (out)."""

    def __init__(self, binary):
        self.profile = tempfile.mkdtemp(prefix="check-site-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # descriptors 3 and 4 in the child; ours are moved out of the way of those numbers first
        fds = {3: _high(to_child_r), 4: _high(from_child_w)}

        def place():
            for target, fd in fds.items():
                os.dup2(fd, target)

        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            pass_fds=(3, 4),
            preexec_fn=place,
        )
        for fd in (*fds.values(), to_child_r, from_child_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._buf = b""
        self._next = 0
        self.events = []

    def send(self, method, params=None, session=None):
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        return self._next

    def _read(self, deadline):
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from Chromium")
            import select

            ready, _, _ = select.select([self._from_child], [], [], 0.5)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe:\n" + self.output())
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, session=None, timeout=PAGE_TIMEOUT_S):
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == wanted:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, method, session, timeout=PAGE_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        for i, msg in enumerate(self.events):
            if msg.get("method") == method and msg.get("sessionId") == session:
                del self.events[i]
                return msg
        while True:
            msg = self._read(deadline)
            if msg.get("method") == method and msg.get("sessionId") == session:
                return msg
            if "method" in msg:
                self.events.append(msg)

    def drain(self, seconds):
        """Collect events for a moment (late console messages, late requests)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                msg = self._read(deadline)
                if "method" in msg:
                    self.events.append(msg)
        except TimeoutError:
            pass

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def close(self):
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - a browser that is already gone is closed
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        shutil.rmtree(self.profile, ignore_errors=True)


def _high(fd):
    """A duplicate of ``fd`` numbered 10 or more (so that placing 3 and 4 in the child clobbers nothing)."""
    import fcntl

    new = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.set_inheritable(new, True)
    return new


def find_chromium():
    for name in ("/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name) if not os.path.isabs(name) else (name if os.access(name, os.X_OK) else None)
        if path:
            return path
    return None


def pages(site):
    out = []
    for folder, dirs, files in os.walk(site):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        out += [
            os.path.relpath(os.path.join(folder, f), site).replace(os.sep, "/")
            for f in sorted(files)
            if f.endswith(".html")
        ]
    return sorted(out, key=lambda p: (p != "index.html", p))


def problems_of(events, session, origin):
    """One line per problem among the events of one page load."""
    found = []
    failed_ids = set()
    for msg in events:
        if msg.get("sessionId") != session:
            continue
        method, p = msg["method"], msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            found.append(f"console {p['type']}: {text[:200]}")
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            found.append(f"uncaught exception: {d.get('exception', {}).get('description', d.get('text'))[:200]}")
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            found.append(f"browser log error: {e.get('text', '')[:200]} {e.get('url', '')}")
        elif method == "Network.requestWillBeSent":
            url = p.get("request", {}).get("url", "")
            if not (url.startswith(origin) or url.startswith(("data:", "blob:", "about:"))):
                found.append(f"request leaves the site: {url}")
        elif method == "Network.loadingFailed" and p.get("requestId") not in failed_ids:
            failed_ids.add(p.get("requestId"))
            if not p.get("canceled"):
                found.append(f"request failed: {p.get('errorText')} ({p.get('type')})")
        elif method == "Network.responseReceived":
            r = p.get("response", {})
            if r.get("status", 200) >= 400:
                found.append(f"HTTP {r['status']}: {r.get('url')}")
    return found


def check(site, shots, chromium_path, screenshots=SCREENSHOTS, only=()):
    handler = functools.partial(Quiet, directory=site)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}/"
    browser = Chromium(chromium_path)
    report, totals = [], {"pages": 0, "images": 0, "math": 0, "notebooks": 0, "figures": 0}
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Network.setCacheDisabled", {"cacheDisabled": True}, session=session)
        for page in [p for p in pages(site) if not only or p in only]:
            browser.events = [e for e in browser.events if e.get("sessionId") != session]
            browser.call("Page.navigate", {"url": origin + page}, session=session)
            browser.wait_for("Page.loadEventFired", session)
            result = browser.call(
                "Runtime.evaluate",
                {"expression": INSPECT, "awaitPromise": True, "returnByValue": True},
                session=session,
            )
            if "exceptionDetails" in result:
                report.append(f"{page}: the page check itself failed: {result['exceptionDetails'].get('text')}")
                continue
            info = json.loads(result["result"]["value"])
            browser.drain(0.3)
            found = problems_of(browser.events, session, origin)
            found += [f"image does not load: {src}" for src in info["broken"]]
            found += [f"formula not typeset: {t!r}" for t in info["untypeset"]]
            found += [f"MathJax error: {t!r}" for t in info["errors"]]
            found += [f"raw math left in the text: {t!r}" for t in info["raw"]]
            if info["notebook"]:
                found += [] if info["figures"] else [f"a notebook page of {info['cells']} cells shows no figure"]
                found += [f"notebook figure is blank (one colour): {src}" for src in info["blank"]]
                found += [f"notebook cell failed or wrote to stderr: {t!r}" for t in info["failed"]]
                totals["notebooks"] += 1
                totals["figures"] += info["figures"]
            report += [f"{page}: {f}" for f in found]
            totals["pages"] += 1
            totals["images"] += info["images"]
            totals["math"] += info["math"]
            if page in screenshots or info["notebook"]:
                metrics = browser.call("Page.getLayoutMetrics", session=session)
                size = metrics.get("cssContentSize") or metrics["contentSize"]
                clip = {"x": 0, "y": 0, "width": 1280, "height": min(int(size["height"]), 12000), "scale": 1}
                shot = browser.call(
                    "Page.captureScreenshot",
                    {"format": "png", "clip": clip, "captureBeyondViewport": True},
                    session=session,
                )
                path = os.path.join(shots, screenshots.get(page) or page.replace("/", "_").replace(".html", ".png"))
                with open(path, "wb") as fh:
                    fh.write(base64.b64decode(shot["data"]))
                print(f"screenshot: {os.path.relpath(path)}")
    finally:
        browser.close()
        server.shutdown()
    return report, totals


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=os.path.join(HERE, "_build", "html"), help="the built site")
    parser.add_argument(
        "--screenshots", default=os.path.join(HERE, "_build", "screenshots"), help="folder for the PNG screenshots"
    )
    parser.add_argument("--chromium", default=None, help="the browser (default: Debian's chromium)")
    parser.add_argument(
        "--screenshot",
        action="append",
        default=[],
        metavar="PAGE",
        help="also save a screenshot of this page (a path in the site, e.g. theory.html)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PAGE",
        help="check only this page (repeatable; default: every page)",
    )
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.join(args.site, "index.html")):
        print(f"check_site: no site at {args.site}; build it with: bash docs/build.sh", file=sys.stderr)
        return 2
    binary = args.chromium or find_chromium()
    if not binary:
        print("check_site: Chromium is missing; install it with: apt-get install -y chromium", file=sys.stderr)
        return 2
    os.makedirs(args.screenshots, exist_ok=True)
    start = time.monotonic()
    shots = dict(SCREENSHOTS)
    shots.update({p: p.replace("/", "_").replace(".html", ".png") for p in args.screenshot})
    report, totals = check(os.path.abspath(args.site), args.screenshots, binary, shots, args.only)
    print(
        f"check_site: {totals['pages']} pages, {totals['images']} images, {totals['math']} formulas, "
        f"{totals['notebooks']} notebook pages with {totals['figures']} figures "
        f"checked in {time.monotonic() - start:.0f} s: {len(report)} problems"
    )
    for line in report:
        print(line)
    return 1 if report else 0


if __name__ == "__main__":
    sys.exit(main())
