"""``Result``: the frames of one run, what is known about it, and its file (``.npz``, or netCDF ``.nc``)."""

from __future__ import annotations

import dataclasses
import json
import numbers
import os
import zipfile
import zlib

import numpy as np

from . import _io, _labelled
from ._display import html
from .errors import InputError, InputTypeError

_ARRAYS = ("steps", "times", "frames", "absorbed")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF")
SAVE_SUFFIXES = (".npz", ".nc")
"""The files :meth:`Result.save` writes: NumPy's ``.npz`` archive, netCDF ``.nc`` (with xarray)."""
_KINDS = {"i": "integers", "u": "integers", "f": "real numbers", "b": "booleans"}


@dataclasses.dataclass(eq=False, repr=False)
class Result:
    """The frames of one run (or of a batch of runs) and what is known about it.

    Attributes
    ----------
    method : str
        The method that ran (``'auto'`` is resolved to the one it picked).
    steps : ndarray of int, shape ``(F,)``
        Step index of each frame: ``0, k, 2k, ...`` and the last step.
    times : ndarray of float, shape ``(F,)``
        ``steps * dt``.
    frames : ndarray, shape ``(F, *batch_shape, *tank.shape)``
        Concentration at each saved step. Stochastic frames are particle counts
        times ``initial mass / N / dx**ndim``.
    absorbed : ndarray, shape ``(F, *batch_shape)``
        Running total of the mass absorbed at open edges by each frame (0 at step 0).
    elapsed : float
        Wall-clock seconds of the run, compilation included.
    meta : dict
        JSON-serialisable details: ``dx``, ``dt``, ``boundary``, ``shape``, ``dtype``,
        ``wall_cells`` (flat C-order indices of the tank's wall cells, or None),
        ``mobility`` (a mobility map's ``min``, ``mean`` and number of ``cells``
        below 1 over the cells that are not walls, or None without a map),
        the kernel's moments and method-specific entries (the propagator's
        ``mobility_path``: ``'patch'`` or ``'factors'``).
    extras : dict of str to ndarray
        Further arrays some methods return (e.g. tracked particle trajectories).

    Raises
    ------
    ValueError
        When ``steps``, ``times``, ``frames`` and ``absorbed`` do not hold one
        entry per frame.
    """

    method: str
    steps: np.ndarray
    times: np.ndarray
    frames: np.ndarray
    absorbed: np.ndarray
    elapsed: float
    meta: dict
    extras: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        method, steps, times, frames, absorbed, elapsed, meta, extras = (
            self.method,
            self.steps,
            self.times,
            self.frames,
            self.absorbed,
            self.elapsed,
            self.meta,
            self.extras,
        )
        self.method = str(method)
        self.steps = np.asarray(steps, dtype=np.int64)
        self.times = np.asarray(times, dtype=np.float64)
        self.frames = np.asarray(frames)
        self.absorbed = np.asarray(absorbed, dtype=np.float64)
        self.elapsed = float(elapsed)
        self.meta = dict(meta)
        self.extras = dict(extras or {})
        if self.frames.ndim < 2:
            raise InputError(f"frames must have shape (F, *grid), got shape {self.frames.shape}")
        n = self.frames.shape[0]
        lengths = {"steps": self.steps.shape, "times": self.times.shape, "absorbed": self.absorbed.shape[:1]}
        if self.steps.ndim != 1 or self.times.ndim != 1 or any(s != (n,) for s in lengths.values()):
            raise InputError(
                f"steps, times and absorbed must hold one entry per frame ({n} frames); got "
                + ", ".join(
                    f"{k} of shape {v}"
                    for k, v in (
                        ("steps", self.steps.shape),
                        ("times", self.times.shape),
                        ("absorbed", self.absorbed.shape),
                    )
                )
            )

    @property
    def final(self) -> np.ndarray:
        """The last frame."""
        return self.frames[-1]

    @property
    def dx(self) -> float:
        """Cell width (``meta['dx']``, 1 when absent)."""
        return float(self.meta.get("dx", 1.0))

    @property
    def batch_shape(self) -> tuple:
        """The batch axes of the frames (``()`` for one run): ``frames`` is ``(F, *batch_shape, *grid)``."""
        return tuple(self.meta.get("batch_shape", ()))

    def mass(self) -> np.ndarray:
        """Mass in the tank at each frame, ``sum(frame) * dx**ndim``, shape ``(F, *batch_shape)``."""
        ndim = self.frames.ndim - 1 - len(self.batch_shape)
        axes = tuple(range(self.frames.ndim - ndim, self.frames.ndim))
        return self.frames.sum(axis=axes, dtype=np.float64) * self.dx**ndim

    def __repr__(self):
        batch = self.batch_shape
        grid = self.frames.shape[1 + len(batch) :]
        words = [
            f"method={self.method!r}",
            f"steps={int(self.steps[-1])}",
            f"frames={len(self.steps)}",
        ]
        if batch:
            words.append(f"batch_shape={tuple(batch)}")
        words += [f"grid={tuple(grid)}", f"dx={self.dx:g}", f"dt={float(self.meta.get('dt', 1.0)):g}"]
        if self.meta.get("n_particles") is not None:
            words.append(f"n_particles={self.meta['n_particles']}")
        words.append(f"elapsed={self.elapsed:.3g} s")
        return f"Result({', '.join(words)})"

    def _repr_html_(self):
        return html(self)

    def _parts(self):
        """``(arrays, plain_extras, meta)``: the extras that are arrays (NumPy), the others and ``meta`` as
        JSON's plain values; TypeError naming the first value a result file cannot hold."""
        arrays, plain_extras = {}, {}
        for name, value in self.extras.items():
            if not isinstance(name, str):
                raise InputTypeError(
                    f"extras has a key {name!r} ({type(name).__name__}); a result file names its extras by strings"
                )
            if _is_array(value):
                arrays[name] = _stored_array(value, f"extras[{name!r}]")
            else:  # lists, numbers, text: kept as they are, in the header
                plain_extras[name] = _plain(value, f"extras[{name!r}]")
        return arrays, plain_extras, _plain(self.meta, "meta")

    def to_xarray(self, batch_dims=None):
        """The result as an ``xarray.Dataset`` with named dimensions and coordinates in the tank's units.

        Needs the optional extra ``xarray`` (``pip install "diffusion-conv[xarray]"``).

        Parameters
        ----------
        batch_dims : sequence of str, optional
            Names of the batch axes (e.g. ``("channel", "kernel")``); default
            ``meta['batch_dims']`` where the result records it, else ``member``
            for one batch axis and ``member_0``, ``member_1``, ... for several.

        Returns
        -------
        xarray.Dataset
            Variables ``concentration`` with dims ``(time, *batch dims, *space
            dims)`` (the frames) and ``absorbed`` with dims ``(time, *batch
            dims)``; space dims are ``(x,)``, ``(y, x)`` or ``(z, y, x)`` for a 1-D,
            2-D or 3-D grid (axis 0 is ``y`` in 2-D, ``z`` in 3-D). Coordinates:
            ``time`` = ``step * dt`` (the result's ``times``, in the time units of
            ``dt``), ``step`` (the step index, along ``time``), and on each space
            dim the cell centres ``(i + 0.5) * dx`` in the length units of ``dx``
            (cell ``i`` spans ``[i dx, (i + 1) dx)``). Attributes: ``method``,
            ``elapsed`` (seconds), each entry of ``meta`` under its own name
            (numbers and text as they are; lists, dicts, booleans, None and
            integers beyond 32 bits as JSON text, their names listed in the JSON
            list ``json_attrs``), and the whole ``meta`` as JSON in
            ``diffusion_conv_meta``. Array extras are variables ``extra_NAME``,
            others JSON in ``extras_json``.

        Raises
        ------
        MissingExtraError
            xarray is not installed (an ``ImportError``; the message names the extra).
        ValueError, TypeError
            ``batch_dims`` is not one distinct name per batch axis, or ``meta`` or
            ``extras`` hold values a result file cannot store.
        """

        _labelled.xarray()
        arrays, plain_extras, meta = self._parts()
        return _labelled.to_dataset(self, meta, arrays, plain_extras, batch_dims)

    def save(self, path) -> None:
        """Write the result to a file that :meth:`load` reads back; the format is the suffix's.

        Parameters
        ----------
        path : str or os.PathLike
            The file, ending in ``.npz`` (NumPy's archive: the arrays and a JSON
            header) or ``.nc`` (netCDF3, the dataset of :meth:`to_xarray`, written
            by xarray's ``scipy`` engine: needs the ``xarray`` extra and nothing
            more). Any other suffix is refused before anything is written. Its
            folder must exist and be writable (checked first).

        Raises
        ------
        ValueError, TypeError
            Another suffix, an unusable folder, or values the file cannot hold,
            before the file is touched.
        MissingExtraError
            ``.nc`` without xarray (the message names the extra), before the file is touched.

        Notes
        -----
        ``meta`` is stored as JSON: NumPy scalars and arrays in it become plain
        numbers and lists, tuples become lists. Extras that are arrays (NumPy or
        JAX arrays, NumPy scalars) are stored as arrays; any other extra (a list,
        a number, text, a dict) is stored as JSON and comes back as the same
        value. Anything else (a set, a complex number, an object, a dict key that
        is not a string, an array of Python objects) raises TypeError naming
        where it is, before the file is touched. netCDF3 holds no 64-bit
        integers: integer arrays are stored as 32-bit integers where they fit
        (else float64 where exact) and read back in their own dtype; complex and
        text arrays in ``extras`` need ``.npz``.

        The file is written under a temporary name in the same folder and
        renamed when complete, so a failed or interrupted save (an exception,
        Ctrl-C, SIGTERM) leaves no partial file and no temporary file. Its mode
        is ``0o666`` less the umask.
        """
        path = _io.check_target(path, SAVE_SUFFIXES)
        arrays, plain_extras, meta = self._parts()
        if os.path.splitext(path)[1].lower() == ".nc":
            ds = _labelled.netcdf_dataset(_labelled.to_dataset(self, meta, arrays, plain_extras))
            with _io.atomic_path(path, suffix=".nc") as tmp:
                _labelled.write_netcdf(ds, tmp)
            return
        stored = dict(steps=self.steps, times=self.times, frames=self.frames, absorbed=self.absorbed)
        stored.update({f"extra_{name}": a for name, a in arrays.items()})
        head = {"method": self.method, "elapsed": self.elapsed, "meta": meta}
        if plain_extras:
            head["extras"] = plain_extras
        header = json.dumps(head)
        with _io.atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, header=np.array(header), **stored)

    @classmethod
    def load(cls, path) -> Result:
        """Read a result written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        Result

        Raises
        ------
        ValueError
            Naming the file and what is wrong: it is missing, empty, neither an
            ``.npz`` archive nor a netCDF file, truncated or corrupt, not a
            result file (no header, or arrays missing), or its arrays disagree
            (not one step, time and absorbed total per frame, steps not
            increasing).
        MissingExtraError
            A netCDF file without xarray installed (the message names the extra).

        Notes
        -----
        The format is read from the file's first bytes, not its name.
        """
        if not isinstance(path, (str, bytes, os.PathLike)):
            raise InputTypeError(f"path must be a path (str or os.PathLike), got {type(path).__name__}")
        path = os.fsdecode(os.fspath(path))
        if not os.path.isfile(path):
            raise InputError(f"{path!r} does not exist or is not a file")
        with open(path, "rb") as fh:
            head = fh.read(4)
        if not head:
            raise InputError(f"{path!r} is empty, not a diffusion_conv result file")
        if head in _NETCDF_MAGIC:
            method, steps, times, frames, absorbed, elapsed, meta, extras = _labelled.read_netcdf(path, head)
            _check_arrays(path, dict(steps=steps, times=times, frames=frames, absorbed=absorbed))
            return cls(method, steps, times, frames, absorbed, elapsed, meta, extras)
        if head not in _ZIP_MAGIC:
            raise InputError(
                f"{path!r} is not a diffusion_conv result file: not an .npz archive (it starts with {head!r}) "
                f"nor a netCDF file"
            )
        try:
            with np.load(path, allow_pickle=False) as data:
                names = list(data.files)
                if "header" not in names:
                    raise _Bad(
                        f"not a diffusion_conv result file: it has no header (its arrays: {', '.join(names) or 'none'})"
                    )
                missing = [k for k in _ARRAYS if k not in names]
                if missing:
                    raise _Bad(f"not a complete result file: the arrays {', '.join(missing)} are missing")
                arrays = {k: data[k] for k in ("header",) + _ARRAYS}
                extras = {k[len("extra_") :]: data[k] for k in names if k.startswith("extra_")}
        except _Bad as exc:
            raise InputError(f"{path!r} is {exc}") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError) as exc:
            raise InputError(f"{path!r} is damaged (truncated or corrupt): {exc}") from None
        header = _header(path, arrays.pop("header"))
        _check_arrays(path, arrays)
        extras.update(header.get("extras", {}))
        return cls(
            header["method"],
            arrays["steps"],
            arrays["times"],
            arrays["frames"],
            arrays["absorbed"],
            header["elapsed"],
            header["meta"],
            extras,
        )


class _Bad(Exception):
    """What is wrong with a file, inside :meth:`Result.load`."""


def _header(path, array) -> dict:
    if array.shape != () or array.dtype.kind != "U":
        raise InputError(f"{path!r} has a header that is not a text entry (shape {array.shape}, dtype {array.dtype})")
    try:
        header = json.loads(str(array))
    except ValueError as exc:
        raise InputError(f"{path!r} has a header that is not valid JSON: {exc}") from None
    ok = (
        isinstance(header, dict)
        and isinstance(header.get("method"), str)
        and isinstance(header.get("elapsed"), numbers.Real)
        and isinstance(header.get("meta"), dict)
    )
    if not ok:
        raise InputError(
            f"{path!r} has a header without the method (text), elapsed (number) and meta (object) of a result"
        )
    if not isinstance(header.get("extras", {}), dict):
        raise InputError(f"{path!r} has a header whose extras are not an object (a name for each value)")
    return header


_ALLOWED = "numbers, booleans, text, None, lists, tuples, dicts with string keys, and NumPy scalars and arrays of those"


def _is_array(value) -> bool:
    """NumPy arrays and scalars and JAX arrays (stored as arrays); lists and Python values are not."""
    import sys

    if isinstance(value, (np.ndarray, np.generic)):
        return True
    jax = sys.modules.get("jax")  # a JAX array exists only where JAX was imported
    return jax is not None and isinstance(value, jax.Array)


def _stored_array(value, where: str) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in "biufcUS":
        raise InputTypeError(
            f"{where} is an array of dtype {a.dtype}, which a result file cannot store (it is read "
            f"without pickle); give numbers or text, or a list of plain values"
        )
    return a


def _plain(value, where: str):
    """``value`` with NumPy and JAX scalars and arrays made plain Python values (JSON's); TypeError naming
    ``where`` the first value JSON cannot hold is."""
    if value is None or isinstance(value, (bool, str)):
        return str(value) if isinstance(value, str) else value
    if isinstance(value, numbers.Integral) and not isinstance(value, np.generic):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputTypeError(f"{where} has a key {k!r} ({type(k).__name__}); a result file stores {_ALLOWED}")
            out[str(k)] = _plain(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if _is_array(value):
        a = np.asarray(value)
        if a.dtype.kind in "biufU":
            return a.tolist()
    raise InputTypeError(
        f"{where} holds {value!r} ({type(value).__name__}), which a result file cannot store; allowed: {_ALLOWED}"
    )


def _check_arrays(path, arrays) -> None:
    kinds = {"steps": "iu", "times": "iuf", "frames": "iufb", "absorbed": "iuf"}
    for name, allowed in kinds.items():
        a = arrays[name]
        if a.dtype.kind not in allowed:
            wanted = " or ".join(sorted({_KINDS[k] for k in allowed}))
            raise InputError(f"{path!r}: {name} must hold {wanted}, got dtype {a.dtype}")
    frames = arrays["frames"]
    if frames.ndim < 2 or frames.shape[0] == 0:
        raise InputError(f"{path!r}: frames must have shape (F, *grid) with F >= 1, got {frames.shape}")
    n = frames.shape[0]
    for name in ("steps", "times"):
        if arrays[name].ndim != 1:
            raise InputError(f"{path!r}: {name} must be 1-D, got shape {arrays[name].shape}")
    lengths = {k: (arrays[k].shape[0] if arrays[k].ndim else 0) for k in ("steps", "times", "absorbed")}
    if any(v != n for v in lengths.values()):
        raise InputError(
            f"{path!r} is inconsistent: {n} frames but "
            + ", ".join(f"{v} {k}" for k, v in lengths.items())
            + "; a result has one step, time and absorbed total per frame"
        )
    steps = arrays["steps"]
    if steps[0] < 0 or np.any(np.diff(steps) <= 0):
        raise InputError(f"{path!r}: steps must be >= 0 and increasing, got {steps.tolist()[:10]}")
