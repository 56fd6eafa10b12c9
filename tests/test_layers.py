"""The package's shape: no import circles, nothing happens at import, and a new method is one class.

The last test defines a method in this module alone (a lazy walk: stay with
probability ``q``, else jump by the kernel) and runs it through everything a
built-in method goes through, touching no file of the package.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv import lattice
from diffusion_conv.methods import Method, Order, State, register
from diffusion_conv.methods.base import Sizes

PACKAGE = os.path.dirname(dc.__file__)


def _modules():
    mods = {}
    for folder, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].replace(os.sep, ".")
                mods[rel.removesuffix(".__init__")] = path
    return mods


def _imports(name, path, mods):
    """The modules of the package that ``name`` imports, at the top or inside a function.

    ``from package import name`` is an import of the submodule ``package.name`` where there is one, else of the
    package itself.
    """
    tree = ast.parse(open(path).read())
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            subs = {f"{mod}.{a.name}" for a in node.names} & set(mods)
            out.update(subs or {mod})
    return out


def _graph():
    mods = _modules()
    edges = {}
    for name, path in mods.items():
        targets = {t for t in _imports(name, path, mods) if t in mods and t != name}
        edges[name] = targets
    return edges


def _circles(edges):
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_finds_a_circle_when_there_is_one():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_package_imports_one_that_imports_it_back():
    edges = _graph()
    assert len(edges) > 30  # every module was read
    assert _circles(edges) == []


@pytest.mark.parametrize("argv0", ["python", "diffusion-conv"])
def test_importing_the_package_leaves_signals_and_threads_alone(argv0):
    # whatever the process is called: the command installs its guard in its entry point, not at import
    code = (
        f"import signal, sys, threading\nsys.argv = [{argv0!r}]\n"
        "before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), threading.active_count())\n"
        "import diffusion_conv, diffusion_conv.render, diffusion_conv.scenarios\n"
        "after = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), threading.active_count())\n"
        "print(before == after, before, after)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("True"), out.stdout


def test_the_public_namespaces_hold_the_public_names_only():
    public = set(dc.__all__) | {"analytic", "fourier", "lattice", "learn", "methods", "render", "scenarios"}
    assert set(dir(dc)) == public and "PackageNotFoundError" not in dir(dc)
    assert all(not n.startswith("_") for n in dir(dc.render))


# -- a method defined here alone -----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LazyStatic:
    """The lazy walk's static data: named fields, hashable and compared by value."""

    radius: tuple
    boundary: tuple
    cell: float
    q: float


def _define_lazy_walk():
    """The class statement of the lazy walk: a concrete Method subclass registers itself as it is defined."""

    class LazyWalk(Method):
        """Stay with probability ``q``, else jump by the kernel: ``c' = q c + (1 - q) K * c``."""

        name = "lazy_walk_test"
        kind = "deterministic"
        differentiable = True
        options = {"q": 0.5}

        def validate(self, tank, prop, *, n_particles=None, key=None, **options):
            options = self.check_arguments(n_particles, key, options)
            if not 0 <= options["q"] < 1:
                raise ValueError(f"q must be in [0, 1), got {options['q']!r}")
            return options

        def order(self, tank, prop):
            return Order(-1.0, "steps", "heat", "a slower walk: the same lattice error")

        def init(self, tank, prop, key=None, n_particles=None, prepared=None, q=0.5):
            w = jnp.ravel(prop.weights).astype(tank.concentration.dtype)
            return State(
                LazyStatic(tuple(prop.radius), tuple(tank.boundary), tank.dx**tank.ndim, q),
                field=tank.concentration,
                weights=w,
                absorbed=jnp.zeros((), tank.concentration.dtype),
            )

        def advance(self, state, n):
            st = state.static

            def body(_, carry):
                c, a = carry
                moved, da = lattice.transport(c, st.radius, st.boundary, weights=state.weights)
                return st.q * c + (1 - st.q) * moved, a + (1 - st.q) * da

            field, absorbed = jax.lax.fori_loop(0, n, body, (state.field, state.absorbed))
            return state.replace(field=field, absorbed=absorbed)

        def observe(self, state):
            return state.field, state.absorbed * state.static.cell

        def memory(self, sizes, options, n_particles, nframes, members, itemsize, prepared=None):
            out = super().memory(sizes, options, n_particles, nframes, members, itemsize, prepared)
            out["working"] += LAZY_EXTRA_FIELDS * members * sizes.cells * itemsize  # q c and the moved field
            return out

    return LazyWalk


LAZY_EXTRA_FIELDS = 2


@pytest.fixture
def lazy_walk():
    """The method defined (and so registered) for one test; the registry is the process's: other tests must
    not meet it, so it is taken out after."""
    from diffusion_conv.methods import _registry

    assert "lazy_walk_test" not in dc.methods.names()
    cls = _define_lazy_walk()
    assert dc.methods.get(cls.name).__class__ is cls  # registered by its definition alone
    assert register(cls) is cls and dc.methods.get(cls.name).__class__ is cls  # the decorator: an alias
    yield cls.name
    del _registry._REGISTRY[cls.name]


def _expected(tank, prop, steps, q):
    """The lazy walk from the propagator method: ``sum_k C(n, k) q^(n-k) (1-q)^k P^k c``."""
    from math import comb

    frames, _ = dc.rollout(tank, prop, steps, save_every=1)
    return sum(comb(steps, k) * q ** (steps - k) * (1 - q) ** k * np.asarray(frames[k]) for k in range(steps + 1))


def test_a_method_defined_outside_the_package_runs_everywhere_a_method_runs(tmp_path, lazy_walk):
    tank = dc.Tank.two_compartment((8, 10), boundary="reflect")
    prop = dc.Propagator.gaussian(0.8, ndim=2, radius=1)
    assert "lazy_walk_test" in dc.methods.names()
    res = dc.simulate(tank, prop, 6, method="lazy_walk_test", save_every=3, q=0.25)
    np.testing.assert_allclose(res.final, _expected(tank, prop, 6, 0.25), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.mass(), res.mass()[0], rtol=1e-12)
    with pytest.raises(ValueError, match="q must be"):
        dc.simulate(tank, prop, 6, method="lazy_walk_test", q=1.5)
    # rollout under jit and vmap, and a gradient
    frames, _ = jax.jit(lambda t: dc.rollout(t, prop, 6, method="lazy_walk_test", q=0.25))(tank)
    np.testing.assert_allclose(frames[-1], res.final, rtol=1e-12)
    bank = dc.Propagator.stack([prop, dc.Propagator.box(3, ndim=2)])
    batched = dc.simulate(tank, bank, 4, method="lazy_walk_test")
    np.testing.assert_allclose(batched.final[1], _expected(tank, bank[1], 4, 0.5), rtol=1e-12, atol=1e-14)
    # compare, the memory check and save/load
    cmp = dc.compare(tank, prop, 6, methods=("propagator", "lazy_walk_test"), save_every=3)
    assert set(cmp.results) == {"propagator", "lazy_walk_test"}
    with pytest.raises(ValueError, match="memory"):
        dc.simulate(dc.Tank.two_compartment((4096, 4096)), prop, 10**6, method="lazy_walk_test", save_every=1)
    # a grid of one device is a split grid: a method without a slab form says it cannot split
    assert dc.methods.get("lazy_walk_test").slab() is None
    with pytest.raises(ValueError, match="'lazy_walk_test' cannot split one grid across devices"):
        dc.simulate(tank, prop, 6, method="lazy_walk_test", devices=1)
    np.testing.assert_allclose(  # a batch spreads over the devices instead
        dc.simulate(dc.Tank.stack([tank]), prop, 6, method="lazy_walk_test", q=0.25, devices=1).final[0],
        res.final,
        rtol=1e-12,
    )
    res.save(tmp_path / "lazy.npz")
    back = dc.Result.load(tmp_path / "lazy.npz")
    assert back.method == "lazy_walk_test"
    np.testing.assert_array_equal(back.frames, res.frames)


def test_the_command_runs_a_method_registered_after_import(capsys, lazy_walk):
    from diffusion_conv import cli

    code = cli.main(["run", "two-compartment", "--method", "lazy_walk_test", "--steps", "3", "--size", "16", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert '"lazy_walk_test"' in out.out


def test_the_memory_check_reads_the_method_s_own_estimate(monkeypatch, capsys, lazy_walk):
    """The lazy walk declares two more fields than the default of a grid method (image keeps the default): a
    limit between the two estimates lets image run and refuses the lazy walk, in simulate and in the command."""
    from diffusion_conv import cli
    from diffusion_conv.cli import checks

    tank = dc.Tank.two_compartment((64, 64))
    prop = dc.Propagator.gaussian(0.8, ndim=2, radius=1)
    sizes, itemsize = Sizes.of(tank, prop), tank.dtype.itemsize

    def total(name):
        m = dc.methods.get(name)
        return sum(m.memory(sizes, m.validate(tank, prop), None, 11, 1, itemsize).values())

    lazy, plain = total("lazy_walk_test"), total("image")
    assert lazy - plain == LAZY_EXTRA_FIELDS * 64 * 64 * itemsize
    monkeypatch.setenv("DIFFUSION_CONV_MEMORY_LIMIT", str(int((plain + lazy) / 2 / 0.9)))
    dc.simulate(tank, prop, 10, method="image", save_every=1)
    with pytest.raises(ValueError, match="would hold about"):
        dc.simulate(tank, prop, 10, method="lazy_walk_test", save_every=1)
    # the command: its estimate before the scenario is built (a 64 x 64 grid, a 7 x 7 kernel) is the methods' own
    before = Sizes((64, 64), (7, 7))
    lazy, plain = (sum(checks.estimate([m], before, 11, None, itemsize).values()) for m in ("lazy_walk_test", "image"))
    monkeypatch.setenv("DIFFUSION_CONV_MEMORY_LIMIT", str(int((plain + lazy) / 2 / 0.9)))
    argv = ["run", "point", "--size", "64", "--steps", "10", "--save-every", "1", "--json", "--method"]
    assert cli.main(argv + ["image"]) == 0
    assert cli.main(argv + ["lazy_walk_test"]) == 2
    assert ": the run needs about" in capsys.readouterr().err
