"""A ``Result`` as labelled arrays: an ``xarray.Dataset``, and the netCDF file written through it.

xarray is an optional extra (``pip install "diffusion-conv[xarray]"``); it is
imported here only, inside the functions, and its absence is a
:class:`~diffusion_conv.errors.MissingExtraError` naming the extra. netCDF files
are written by xarray's ``scipy`` engine (netCDF3, 64-bit offsets), which needs
no package beyond SciPy; netCDF3 holds no 64-bit integers, so integer arrays
are stored as 32-bit integers where they fit (else as float64 where that is
exact) with their NumPy dtype in the attribute ``numpy_dtype``, and read back in
it. This module does not import :mod:`diffusion_conv.result` (the result
imports it): it hands back the pieces a ``Result`` is built from.
"""

from __future__ import annotations

import json
import numbers
import re

import numpy as np

from .errors import InputError, InputTypeError, MissingExtraError

XARRAY_HINT = (
    'labelled output (Result.to_xarray, .nc files) needs xarray; install it with: pip install "diffusion-conv[xarray]"'
)

SPACE_DIMS = {1: ("x",), 2: ("y", "x"), 3: ("z", "y", "x")}
"""The names of the space dimensions of a 1-D, 2-D and 3-D grid, in axis order."""

META_ATTR = "diffusion_conv_meta"
"""The attribute holding the whole ``meta`` as JSON (what :func:`read_netcdf` reads back)."""

_OWN_ATTRS = ("method", "elapsed", META_ATTR, "json_attrs", "extras_json")
_UNITS = {1: "mass / length", 2: "mass / area", 3: "mass / volume"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT32 = np.iinfo(np.int32)


def xarray():
    """The ``xarray`` module; :class:`MissingExtraError` naming the extra when it is not installed."""
    try:
        import xarray as xr
    except ImportError:
        raise MissingExtraError(XARRAY_HINT) from None
    return xr


def batch_dim_names(batch_shape, names=None, meta=None) -> tuple:
    """The names of the batch dimensions: ``names`` checked, else ``meta['batch_dims']``, else ``member``
    (one axis) or ``member_0``, ``member_1``, ... (several)."""
    batch_shape = tuple(batch_shape)
    if names is None and meta is not None and isinstance(meta.get("batch_dims"), (list, tuple)):
        names = meta["batch_dims"]
    if names is None:
        return ("member",) if len(batch_shape) == 1 else tuple(f"member_{k}" for k in range(len(batch_shape)))
    if isinstance(names, str):
        names = (names,)
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
        raise InputTypeError(f"batch_dims must be a sequence of names (str), one per batch axis, got {names!r}")
    names = tuple(names)
    taken = {"time", "x", "y", "z"}
    if len(names) != len(batch_shape) or len(set(names)) != len(names) or taken & set(names):
        raise InputError(
            f"batch_dims must name each of the {len(batch_shape)} batch axes (batch shape {batch_shape}) once, "
            f"with names other than time, x, y and z; got {names!r}"
        )
    return names


def _attr(value):
    """``(value, encoded)``: a meta value as a netCDF attribute, JSON text where it is not a plain number or text."""
    if isinstance(value, str):
        return value, False
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and _INT32.min <= value <= _INT32.max:
        return int(value), False
    if isinstance(value, float):
        return value, False
    return json.dumps(value), True


def to_dataset(res, meta, arrays, plain_extras, batch_dims=None):
    """``res`` as an ``xarray.Dataset`` (see :meth:`diffusion_conv.Result.to_xarray`).

    ``meta`` and ``plain_extras`` are the result's meta and non-array extras made plain
    (JSON's) values, ``arrays`` its array extras as NumPy arrays.
    """
    xr = xarray()
    batch = tuple(res.batch_shape)
    ndim = res.frames.ndim - 1 - len(batch)
    if ndim not in SPACE_DIMS:
        raise InputError(f"a result with frames {res.frames.shape} and batch shape {batch} has no 1-D to 3-D grid")
    bdims = batch_dim_names(batch, batch_dims, res.meta)
    space = SPACE_DIMS[ndim]
    grid = res.frames.shape[1 + len(batch) :]
    dx, dt = res.dx, float(res.meta.get("dt", 1.0))
    coords = {
        "time": ("time", res.times, {"long_name": "time", "units": f"time units (step x dt, dt = {dt:g})"}),
        "step": ("time", res.steps, {"long_name": "step index"}),
    }
    for name, n in zip(space, grid):
        coords[name] = (
            name,
            (np.arange(n) + 0.5) * dx,
            {"long_name": f"cell centre along {name}", "units": f"length units (cell width dx = {dx:g})"},
        )
    data = {
        "concentration": (
            ("time", *bdims, *space),
            res.frames,
            {"long_name": "concentration", "units": f"{_UNITS[ndim]} (mass per cell volume dx**{ndim})"},
        ),
        "absorbed": (
            ("time", *bdims),
            res.absorbed,
            {"long_name": "mass absorbed at open edges so far", "units": "mass"},
        ),
    }
    for key, a in arrays.items():
        data[f"extra_{key}"] = (tuple(f"extra_{key}_{k}" for k in range(a.ndim)), a, {})
    attrs = {"method": res.method, "elapsed": float(res.elapsed), META_ATTR: json.dumps(meta)}
    encoded = []
    for key, value in meta.items():
        if key in _OWN_ATTRS or not _NAME.match(key):
            continue  # kept in the whole meta's JSON only
        attrs[key], was = _attr(value)
        if was:
            encoded.append(key)
    attrs["json_attrs"] = json.dumps(encoded)
    if plain_extras:
        attrs["extras_json"] = json.dumps(plain_extras)
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _stored(name, a):
    """``a`` in a type a netCDF3 file holds exactly; InputError or InputTypeError where there is none."""
    kind = a.dtype.kind
    if kind not in "biuf":
        raise InputTypeError(
            f"{name} holds {a.dtype} values, which a netCDF3 file cannot store; save the result to .npz instead"
        )
    if kind == "u" or kind == "i" and a.dtype.itemsize > 4:
        if a.size == 0 or (a.min() >= _INT32.min and a.max() <= _INT32.max):
            return a.astype(np.int32)
        if np.all(np.abs(a.astype(np.float64)) <= 2.0**53):
            return a.astype(np.float64)
        raise InputError(f"{name} holds integers beyond 2**53, which a netCDF3 file cannot store exactly; use .npz")
    if a.dtype == np.float16:
        return a.astype(np.float32)
    return a


def _netcdf3(ds):
    """``ds`` with every array in a type netCDF3 holds and its NumPy dtype in ``numpy_dtype``."""
    xr = xarray()
    out = {}
    for name, var in ds.variables.items():
        a = np.asarray(var.values)
        out[name] = xr.Variable(var.dims, _stored(str(name), a), dict(var.attrs, numpy_dtype=str(a.dtype)))
    return xr.Dataset({n: out[n] for n in ds.data_vars}, coords={n: out[n] for n in ds.coords}, attrs=dict(ds.attrs))


def netcdf_dataset(ds):
    """The dataset :func:`write_netcdf` writes: checked (every error before any file is touched)."""
    return _netcdf3(ds)


def write_netcdf(ds, tmp) -> None:
    """Write a dataset from :func:`netcdf_dataset` to ``tmp`` (the caller's temporary name), netCDF3 by the
    scipy engine."""
    ds.to_netcdf(tmp, engine="scipy", format="NETCDF3_64BIT")


def read_netcdf(path, head: bytes):
    """``(method, steps, times, frames, absorbed, elapsed, meta, extras)`` of a result written by
    :func:`write_netcdf`; InputError naming the file otherwise."""
    xr = xarray()
    engine = "scipy" if head.startswith(b"CDF") else None
    try:
        ds = xr.load_dataset(path, engine=engine, decode_cf=False)
    except ImportError as exc:
        raise MissingExtraError(f"{path!r} is a netCDF4 file; reading it needs netCDF4 or h5netcdf ({exc})") from None
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise InputError(f"{path!r} is damaged (truncated or corrupt) or not a netCDF file: {exc}") from None
    missing = [k for k in ("concentration", "absorbed", "step", "time") if k not in ds.variables]
    missing += [k for k in ("method", "elapsed", META_ATTR) if k not in ds.attrs]
    if missing:
        raise InputError(
            f"{path!r} is not a diffusion_conv result file: it lacks {', '.join(missing)} "
            f"(a result's .nc file is written by Result.save)"
        )
    try:
        meta = json.loads(ds.attrs[META_ATTR])
        extras = json.loads(ds.attrs.get("extras_json", "{}"))
        elapsed = float(ds.attrs["elapsed"])
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path!r} has attributes that are not those of a result: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(extras, dict):
        raise InputError(f"{path!r} has a meta or extras attribute that is not a JSON object")

    def values(name):
        var = ds.variables[name]
        a = np.asarray(var.values)
        dtype = var.attrs.get("numpy_dtype")
        return a.astype(np.dtype(str(dtype))) if dtype is not None else a

    for name in ds.variables:
        if str(name).startswith("extra_") and name in ds.data_vars:
            extras[str(name)[len("extra_") :]] = values(name)
    return (
        str(ds.attrs["method"]),
        values("step"),
        values("time"),
        values("concentration"),
        values("absorbed"),
        elapsed,
        meta,
        extras,
    )
