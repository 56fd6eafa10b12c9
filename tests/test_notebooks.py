"""The docs' notebooks run headlessly in a Jupyter kernel (nbclient), as the docs build runs them, and show
what their text claims: the explorer as a widget with its static picture, nothing compiled when a value moves,
and the statistics chapter's measurements within their sampling errors.

The docs build runs every notebook (and fails on a failing cell); here the two whose text makes claims about
numbers run in the suite (about 25 s together, the slow tier)."""

from __future__ import annotations

import os
import re

import pytest

nbclient = pytest.importorskip("nbclient")
read = pytest.importorskip("myst_nb.core.read")

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
NOTEBOOKS = [
    "notebooks/quickstart.md",
    "notebooks/explorer.md",
    "story/moving_average.md",
    "story/statistics.md",
    "story/gel.md",
]


def _run(name):
    """The notebook executed in a fresh python3 kernel (its folder the working directory)."""
    path = os.path.join(DOCS, name)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    assert read.is_myst_markdown_notebook(text), f"{name} is not a MyST notebook (file_format: mystnb)"
    nb = read.read_myst_markdown_notebook(text, path=path)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": os.path.dirname(path)}}
    )
    client.execute()  # a cell that raises fails here, with the cell and its traceback
    return nb


def _outputs(nb):
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


def _text(nb):
    return "".join(o.get("text", "") for o in _outputs(nb) if o.output_type == "stream")


def test_every_docs_notebook_is_listed():
    found = []
    for folder, _, files in os.walk(DOCS):
        if "_build" in folder:
            continue
        for f in files:
            if f.endswith(".md"):
                with open(os.path.join(folder, f), encoding="utf-8") as fh:
                    if read.is_myst_markdown_notebook(fh.read()):
                        found.append(os.path.relpath(os.path.join(folder, f), DOCS).replace(os.sep, "/"))
    assert sorted(found) == sorted(NOTEBOOKS)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["notebooks/explorer.md", "story/statistics.md"])
def test_notebook_runs_and_draws(name):
    nb = _run(name)
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    pictures = [
        o
        for o in outputs
        if "image/png" in o.get("data", {}) or "data:image/png" in o.get("data", {}).get("text/html", "")
    ]
    assert pictures, f"{name} draws no picture"
    if name == "notebooks/explorer.md":
        _check_explorer(nb, outputs)
    if name == "story/statistics.md":
        _check_statistics(_text(nb))


def _check_explorer(nb, outputs):
    widget = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widget) == 1
    assert "live Jupyter kernel" in widget[0]["data"]["text/html"]  # the static picture for a page
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    assert state.get("state"), "the kernel kept no widget state"
    compiled = dict(re.findall(r"(\{'\w+': [\d.]+\})\s+programs compiled: (\d+)", _text(nb)))
    for change in ("{'sigma': 1.4}", "{'temperature': 0.7}", "{'seed': 3}", "{'step': 90}"):
        assert compiled[change] == "0", (change, compiled)
    # the first radius 3 compiles its kernel shape's programs; the text claims what the numbers show
    assert int(re.search(r"\{'radius': 3\}\s+programs compiled: (\d+)", _text(nb)).group(1)) > 0


def _check_statistics(text):
    z = [float(v) for v in re.findall(r"max \|z\| = ([\d.]+)", text)]
    assert len(z) == 2 and max(z) < 4, z  # the MA and the AR autocorrelations, in standard errors
    rows = re.findall(r"(Yule-Walker|least squares):\s+\S+\s+\S+\s+([+-][\d.]+)\s+([+-][\d.]+)", text)
    assert len(rows) == 2 and all(abs(float(v)) < 4 for _, a, b in rows for v in (a, b)), rows
    assert float(re.search(r"max \|cov - I\| = ([\d.e+-]+)", text).group(1)) < 1e-12  # on the fitted half
