#!/usr/bin/env bash
# Build the documentation site into docs/_build/html, with every warning an error: a broken
# reference, a missing image or a docstring that does not parse fails the build.
#
#   pip install -e ".[docs]" && bash docs/build.sh
#
# The gallery runs every script in simulations/ and `diffusion-conv demo` at --smoke size, two at
# a time (DOCS_JOBS), and reuses a run while the script and the package are unchanged. The pages
# that are notebooks (docs/notebooks/, the story's notebook chapters) run in a Jupyter kernel at
# every build (myst-nb); a cell that fails fails the build.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python}"
if ! "$PYTHON" -c "import sphinx, myst_nb, ipykernel, numpydoc, furo, diffusion_conv" 2>/dev/null; then
    echo "docs/build.sh: the docs toolchain or the package is missing; install both with: pip install -e \".[docs]\"" >&2
    exit 2
fi
start=$(date +%s)
rm -rf api/generated _build/html _build/doctrees
"$PYTHON" -m sphinx -b html -E -W --keep-going -q . _build/html
echo "docs/build.sh: site built into docs/_build/html in $(( $(date +%s) - start )) s"
