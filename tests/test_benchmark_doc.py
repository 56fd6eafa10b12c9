"""docs/benchmarks.md: a partial benchmark run replaces its own sections and keeps the rest, machine included."""

from benchmarks.__main__ import merge, render_markdown


def test_partial_run_keeps_the_old_head_and_labels_its_section_with_its_own_machine():
    old = render_markdown({"alpha": {"machine": {"cpu": "first-cpu"}, "x": 1.0}, "beta": {"y": 2.0}}, quick=False)
    new = render_markdown({"beta": {"machine": {"cpu": "second-cpu", "load": "0.25"}, "y": 3.0}}, quick=True)
    merged = merge(old, new)
    head, rest = merged.split("### alpha", 1)
    assert "first-cpu" in head and "second-cpu" not in head  # the shared head describes the old run
    assert "| x | 1 |" in rest  # the untouched section keeps its figure
    beta = rest.split("### beta", 1)[1]
    assert "| y | 3 |" in beta and "| y | 2 |" not in beta
    assert "second-cpu" in beta and "load: 0.25" in beta and "--quick" in beta


def test_first_run_is_written_as_it_is():
    new = render_markdown({"beta": {"machine": {"cpu": "c"}, "y": 3.0}}, quick=False)
    assert merge(None, new) == new
