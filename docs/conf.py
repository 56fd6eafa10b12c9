"""Sphinx configuration of the diffusion_conv site (built by ``bash docs/build.sh``).

Markdown pages through MyST (myst-nb, which also runs the pages that are
notebooks: MyST Markdown with ``file_format: mystnb``, executed at every build),
the API reference from the numpydoc docstrings (autodoc, autosummary), formulas
by a MathJax bundled in a Python package (no network), and a gallery of the
scripts in ``simulations/`` (``_ext/gallery.py``).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))

import diffusion_conv  # noqa: E402

project = "diffusion_conv"
author = "the diffusion_conv authors"
copyright = "the diffusion_conv authors, MIT licence"
release = diffusion_conv.__version__
version = release

extensions = [
    "myst_nb",  # MyST Markdown (it loads myst_parser's configuration) and executed notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 shipped in the package, copied into _static/mathjax
    "gallery",
    "apicheck",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "_templates", "_ext", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]
nitpicky = True

# -- MyST: the Markdown pages, with $...$ and $$...$$ math ------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True
# an undefined TeX command is an error (MathJax draws it in red otherwise), which the browser check catches
mathjax3_config = {"tex": {"packages": {"[-]": ["noundefined"]}}}

# -- notebooks: every page with ``file_format: mystnb`` runs in a fresh kernel at every build ------
nb_execution_mode = "force"  # what the site shows is what the code does today
nb_execution_timeout = 120  # seconds per cell; each notebook runs in seconds
nb_execution_raise_on_error = True  # a cell that fails fails the build
nb_execution_show_tb = True
nb_merge_streams = True
# No widget JavaScript from a CDN (the site works offline): the explorer's live widget needs a kernel
# anyway, so the page shows the static picture and control values it carries as HTML instead.
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]

# -- the API reference --------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc sections state types and shapes
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
api_modules = ("render", "analytic", "fourier", "scenarios", "lattice", "methods")

# -- the gallery ---------------------------------------------------------------------------------
gallery_root = ".."
gallery_run_dir = "_build/gallery-run"
gallery_jobs = int(os.environ.get("DOCS_JOBS", "2"))
gallery_chapters = {
    "fourier_pictures": "../story/fourier_pictures.md",
    "frequency_filter": "../story/frequency_filter.md",
    "cross_correlation": "../story/cross_correlation.md",
    "particles_to_deterministic": "../story/stochastic_convolution.md",
    "stochastic_convolution": "../story/stochastic_convolution.md",
    "moving_average": "../story/moving_average.md",
}

# -- HTML ------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"diffusion_conv {release}"
html_static_path = ["_static"]
html_css_files = ["gallery.css"]
html_show_sourcelink = False
html_favicon = "_static/favicon.svg"
