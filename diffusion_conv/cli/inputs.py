"""One's own inputs on the command line: a picture or an array as the field, walls, a kernel, boundaries, dx, dt.

:func:`read` reads and checks every file and value of ``--image``, ``--initial``,
``--walls``, ``--mobility``, ``--kernel``, ``--temperature``, ``--normalize`` and ``--boundary``
before any work (nothing is simulated and no scenario is built: a scenario's grid
comes from :func:`diffusion_conv.scenarios.details`); a bad one is a
:class:`~diffusion_conv.cli.parser.UsageError` naming the option. :func:`problem`
then builds the run: the named scenario (if any) with these overriding its own
field, walls, boundaries, ``dx`` and kernel, or, without a scenario, a problem made
of them alone. :func:`read_map` is the one way a per-cell map is read from a file
(a ``.npy`` array or a picture), for the walls and for any map of the same kind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import TYPE_CHECKING

import numpy as np

from .. import scenarios
from ..errors import InputError, InputTypeError
from ..lattice.mobility import check_mobility
from ..methods import get as get_method
from ..methods import names
from ..propagator import Propagator
from ..scenarios import named_kernel
from ..tank import Tank
from .types import kernel_spec
from .usage import UsageError

if TYPE_CHECKING:
    from ..propagator import Propagator

FILE_OPTIONS = ("image", "initial", "walls", "mobility", "kernel")
"""The options that name an input file (their paths and sha256 checksums go into a run's record)."""

DEFAULT_KERNEL = "box:3"
"""The kernel of a run without a scenario and without ``--kernel``: the box blur (as the ``image`` scenario)."""


def default_steps(shape) -> int:
    """The steps of a run without a scenario: a quarter of the grid's longest side, at least 4 (as ``image``)."""
    return max(4, max(shape) // 4)


def sha256(path) -> str:
    """The sha256 checksum of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plain(option):
    """How an option is named in a message when nothing else is known of where it came from."""
    return option


@dataclasses.dataclass
class Inputs:
    """What :func:`read` found: every array loaded, every value checked.

    Attributes
    ----------
    shape : tuple of int
        The grid (cells per axis).
    field : numpy.ndarray or None
        The initial field of ``--image`` or ``--initial`` (``(C, H, W)``, one per colour channel,
        with ``--channels``); None for the scenario's own.
    walls : numpy.ndarray of bool or None
        ``--walls``, of the grid's shape.
    mobility : numpy.ndarray or None
        ``--mobility``, of the grid's shape, values in [0, 1].
    prop : Propagator or None
        ``--kernel`` at ``--temperature`` and ``--normalize``.
    boundary : tuple of str or None
        ``--boundary``, one per axis or one for all.
    files : dict
        Option name (``'image'``, ...) to the path read.
    digests : dict
        Option name to the sha256 checksum of the file read.
    """

    shape: tuple
    field: np.ndarray | None = None
    walls: np.ndarray | None = None
    mobility: np.ndarray | None = None
    prop: Propagator | None = None
    boundary: tuple | None = None
    files: dict = dataclasses.field(default_factory=dict)
    digests: dict = dataclasses.field(default_factory=dict)


def _exists(path, option, label):
    if not os.path.isfile(path):
        what = "is a folder" if os.path.isdir(path) else "does not exist"
        raise UsageError(f"{label(option)}: file {path!r} {what}")


def read_picture(path, option, label, size=None, channels=False) -> np.ndarray:
    """A picture file as brightness in [0, 1] (:meth:`diffusion_conv.Tank.from_image`): ``(H, W)``, or ``(C, H, W)`` with channels."""

    _exists(path, option, label)
    try:
        tank = Tank.from_image(path, size=size, channels=channels)
    except InputError as exc:
        raise UsageError(f"{label(option)}: {str(exc).splitlines()[0]}") from None
    return np.asarray(tank.concentration)


def read_array(path, option, label) -> np.ndarray:
    """A ``.npy`` file as a real numeric array (no pickles)."""
    _exists(path, option, label)
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY":
        raise UsageError(f"{label(option)}: {path!r} is not a .npy file (numpy.save writes one)")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - numpy raises many kinds for a file that is not an array
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{label(option)}: {path!r} could not be read as a .npy array ({reason})") from None
    if not isinstance(arr, np.ndarray):
        raise UsageError(f"{label(option)}: {path!r} holds several arrays (.npz); give one array saved with numpy.save")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise UsageError(f"{label(option)}: {path!r} must hold numbers, got an array of dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise UsageError(f"{label(option)}: {path!r} must hold real numbers, got a complex array")
    return arr


def read_map(path, option, label, shape) -> tuple[np.ndarray, bool]:
    """A per-cell map of the grid ``shape`` from a ``.npy`` array or a picture: ``(values, is_picture)``.

    A picture gives its brightness in [0, 1] (the luma of a colour picture); an array
    is returned as it is. Either must have exactly the grid's shape.
    """
    if path.lower().endswith(".npy"):
        values, picture = read_array(path, option, label), False
    else:
        values, picture = read_picture(path, option, label), True
    if tuple(values.shape) != tuple(shape):
        raise UsageError(
            f"{label(option)}: {path!r} has shape {tuple(values.shape)}, the field has shape {tuple(shape)}; "
            f"give a map of the field's shape"
        )
    return values, picture


def read_walls(path, label, shape) -> np.ndarray:
    """``--walls``: a bool mask (a ``.npy`` of bools or of 0 and 1; a picture, dark = wall: brightness < 0.5)."""
    values, picture = read_map(path, "--walls", label, shape)
    if picture:
        return values < 0.5
    if values.dtype == bool:
        return values
    if not np.all((values == 0) | (values == 1)):
        raise UsageError(
            f"{label('--walls')}: {path!r} must hold booleans or only 0 and 1 (1 = wall), got values from "
            f"{np.nanmin(values)!r} to {np.nanmax(values)!r}"
        )
    return values == 1


def read_mobility(path, label, shape) -> np.ndarray:
    """``--mobility``: values in [0, 1] per cell (a ``.npy`` array; a picture: brightness = mobility)."""
    values, _ = read_map(path, "--mobility", label, shape)
    try:
        m = check_mobility(values, shape)
    except (InputError, InputTypeError) as exc:
        raise UsageError(f"{label('--mobility')}: {path!r}: {str(exc).splitlines()[0]}") from None
    return np.ones(shape) if m is None else m


def mobile_methods(methods) -> tuple:
    """Those of ``methods`` that take a mobility map (their ``mobility`` attribute)."""
    return tuple(m for m in methods if getattr(get_method(m), "mobility", False))


def _grid_of_scenario(args):
    return tuple(scenarios.details(args.size)[args.scenario]["shape"])


def read(args, label=plain) -> Inputs:
    """Read and check every input option of ``args`` before any work; UsageError naming the option otherwise.

    ``label(option)`` names an option in the messages (``'--image'``, or where a config file set it).
    """
    image, initial = args.image, args.initial
    if image is not None and initial is not None:
        raise UsageError(f"give one initial field: {label('--image')} or {label('--initial')}, not both")
    if args.scenario is None and image is None and initial is None:
        raise UsageError(
            "give a scenario (see `diffusion-conv scenarios`) or a field of your own with --image or --initial"
        )
    channels = bool(getattr(args, "channels", False))
    if channels and image is None and args.scenario != "image":
        raise UsageError(
            "--channels applies to a colour picture (--image, or the image scenario), not to "
            + (f"{args.scenario!r}" if initial is None else "an --initial array")
        )
    if initial is not None and args.size is not None and args.scenario is None:
        raise UsageError(f"--size resamples a picture or sizes a scenario; {label('--initial')} is taken as it is")
    if getattr(args, "temperatures", None) and args.temperature is not None:
        raise UsageError("give --temperature (one kernel) or --temperatures (a bank), not both")
    found = Inputs(shape=())
    picture = image
    if picture is None and channels:
        picture = scenarios.TEST_IMAGE_RGB  # the image scenario in colour
    if picture is not None:
        found.field = read_picture(picture, "--image", label, size=args.size, channels=channels)
        found.shape = tuple(found.field.shape[1:] if channels else found.field.shape)
        if image is not None:
            found.files["image"] = image
    elif initial is not None:
        arr = read_array(initial, "--initial", label)
        if arr.ndim not in (1, 2, 3) or 0 in arr.shape:
            raise UsageError(
                f"{label('--initial')}: {initial!r} must hold a 1-D, 2-D or 3-D array with cells on every axis, "
                f"got shape {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise UsageError(f"{label('--initial')}: {initial!r} holds NaN or infinite values")
        found.field, found.shape = arr, tuple(arr.shape)
        found.files["initial"] = initial
    else:
        found.shape = _grid_of_scenario(args)
    ndim = len(found.shape)
    if args.walls is not None:
        found.walls = read_walls(args.walls, label, found.shape)
        found.files["walls"] = args.walls
    if getattr(args, "mobility", None) is not None:
        found.mobility = read_mobility(args.mobility, label, found.shape)
        found.files["mobility"] = args.mobility
    if args.boundary is not None:
        if len(args.boundary) not in (1, ndim):
            raise UsageError(
                f"{label('--boundary')}: give one boundary for every axis or one per axis ({ndim} for this "
                f"{ndim}-D field), got {len(args.boundary)}: {','.join(args.boundary)}"
            )
        found.boundary = args.boundary[0] if len(args.boundary) == 1 else tuple(args.boundary)
    if args.scenario is None and args.kernel is None:
        args.kernel = DEFAULT_KERNEL
    found.prop = kernel(args, ndim, label)
    if args.kernel is not None and kernel_spec(args.kernel)[0] == "file":
        found.files["kernel"] = args.kernel
    found.digests = {option: sha256(path) for option, path in found.files.items()}
    return found


def kernel(args, ndim, label=plain):
    """``--kernel`` at ``--temperature`` and ``--normalize`` as a Propagator of ``ndim`` axes (None without one)."""

    normalize, temperature = args.normalize, args.temperature
    if args.kernel is None:
        if normalize is not None:
            raise UsageError(f"{label('--normalize')} says how --kernel becomes a jump distribution; give --kernel")
        return None
    if normalize == "sum" and temperature not in (None, 1.0):
        raise UsageError(
            f"{label('--temperature')} applies to --normalize softmax only; leave it out (or at 1) with sum"
        )
    normalize = normalize or "softmax"
    temperature = 1.0 if temperature is None else temperature
    kind, name, param = kernel_spec(args.kernel)
    where = f"{label('--kernel')} {args.kernel}"
    if kind == "name":
        try:
            return named_kernel(name, param, ndim=ndim, normalize=normalize, temperature=temperature)
        except InputError as exc:
            raise UsageError(f"{where}: {exc}") from None
    if name.lower().endswith(".txt"):
        _exists(name, "--kernel", label)
        if ndim == 3:
            raise UsageError(f"{where}: a text table is 1-D or 2-D; the field is 3-D (give a .npy kernel)")
        try:
            k = np.loadtxt(name, dtype=np.float64, ndmin=ndim)
        except Exception as exc:  # noqa: BLE001 - numpy raises many kinds for a table it cannot read
            raise UsageError(f"{where}: could not be read as a table of numbers ({str(exc)[:200]})") from None
    else:
        k = read_array(name, "--kernel", label)
    if normalize == "sum" and k.size and np.nanmin(k) < 0:
        raise UsageError(
            f"{where}: --normalize sum needs a kernel with no negative entries, its smallest is "
            f"{float(np.nanmin(k)):g} (softmax takes any kernel)"
        )
    if k.ndim != ndim:
        raise UsageError(
            f"{where}: the kernel is {k.ndim}-D with shape {k.shape}; the field is {ndim}-D (a kernel has the "
            f"field's dimension)"
        )
    try:
        return Propagator.from_kernel(k, normalize=normalize, temperature=temperature)
    except InputError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _boundary_names(tank):
    names = tuple(str(b) for b in tank.boundary)
    return names[0] if len(set(names)) == 1 else names


def _scenario_map(given, sc, name, what, shape):
    """The map given on the command line, else the scenario's own (``name``: ``walls`` or ``mobility``), which must
    be on the field's grid; None where neither has one."""
    if given is not None or sc is None or getattr(sc.tank, name) is None:
        return given
    if tuple(sc.tank.shape) != shape:
        raise UsageError(
            f"scenario {sc.name!r} has {what} on its {sc.tank.shape} grid; the field given has shape "
            f"{shape}: give --{name} of the field's shape (or --size)"
        )
    return np.asarray(getattr(sc.tank, name))


def problem(args, found: Inputs):
    """The run: a :class:`~diffusion_conv.scenarios.Scenario` with the inputs ``found`` applied.

    With a scenario: its own tank, kernel, steps and methods, each replaced where an option
    gives one (the field, the walls, the boundaries, ``dx``, the kernel, or the temperature of
    the scenario's kernel: ``softmax(log(w) / T)``). The scenario's walls stay with a new field
    of the same shape. Without one: the field given, closed walls (``reflect``), ``dx`` 1,
    :data:`DEFAULT_KERNEL`, :func:`default_steps`, every method. Walls displace the water in
    them: those cells start at 0.
    """

    channels = bool(getattr(args, "channels", False))
    sc = scenarios.get(args.scenario, size=args.size, seed=args.seed) if args.scenario is not None else None
    own_tank = (
        found.field is not None
        or found.walls is not None
        or found.mobility is not None
        or found.boundary is not None
        or args.dx is not None
        or sc is None
    )
    tank = None if own_tank else sc.tank
    if tank is None:
        field = found.field if found.field is not None else np.asarray(sc.tank.concentration)
        walls = _scenario_map(found.walls, sc, "walls", "walls", found.shape)
        mobility = _scenario_map(found.mobility, sc, "mobility", "a mobility map", found.shape)
        boundary = found.boundary or (_boundary_names(sc.tank) if sc is not None else "reflect")
        dx = args.dx if args.dx is not None else (sc.tank.dx if sc is not None else 1.0)
        if walls is not None:
            field = np.where(walls, np.zeros((), field.dtype), field)  # the walls displace the water
        members = list(field) if channels else [field]
        tanks = [Tank(f, boundary=boundary, walls=walls, dx=dx, mobility=mobility) for f in members]
        tank = Tank.stack(tanks) if channels else tanks[0]
    prop = found.prop
    if prop is None and sc is not None:
        prop = sc.propagator
        if args.temperature is not None:
            w = np.asarray(prop.weights, dtype=np.float64)
            if np.any(w <= 0):
                raise UsageError(f"--temperature: scenario {sc.name!r}'s kernel has zero weights (no logarithm)")
            prop = Propagator.from_logits(np.log(w), temperature=args.temperature)
    cells = int(np.prod(tank.shape))
    if sc is not None:
        methods = sc.methods if tank.mobility is None else mobile_methods(sc.methods)
        return dataclasses.replace(sc, tank=tank, propagator=prop, methods=methods)
    source = os.path.basename(args.image if args.image is not None else args.initial)
    steps = default_steps(tank.shape)
    return scenarios.Scenario(
        name=source,
        description=f"{source} under {args.kernel}",
        tank=tank,
        propagator=prop,
        steps=steps,
        save_every=max(1, steps // 40),
        methods=names() if tank.mobility is None else mobile_methods(names()),
        n_particles=10 * cells,
    )
