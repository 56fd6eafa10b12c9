"""``--config FILE.toml`` and the record every run writes beside its output (``NAME.toml``).

A config file holds what the flags say: its keys are the long options of the
command (``save-every`` or ``save_every``), plus ``scenario``; ``--x64`` and the
other switches are ``true`` or ``false``, a comma list (``--boundary``,
``--methods``, ``--temperatures``) may be a TOML array. Relative paths are read
from the file's folder. Every value goes through the command's own parser, so a
bad one is refused as on the command line, naming its key; a flag given on the
command line overrides the file (:class:`~diffusion_conv.cli.parser.Parser`
records which were given).

The record is such a file: :func:`record` collects what a finished run needs to
run again (the scenario or the input files with their sha256 checksums, the
kernel, temperature, normalisation, boundaries, ``dx``, ``dt``, the method or
methods, steps, frame spacing, size, particles, seed, x64, devices and the
package version) and :func:`write` writes it atomically beside the run's main
output. ``diffusion-conv run --config NAME.toml`` then gives the same numbers bit
for bit; an input file whose checksum no longer matches is refused.

Reading uses :mod:`tomllib` (``tomli`` before Python 3.11); writing uses the small
writer here, :func:`dumps`: a record is one flat table of strings, numbers,
booleans and lists plus a ``[sha256]`` table, which needs no library.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys

from .. import __version__, _io
from .inputs import FILE_OPTIONS, sha256
from .types import kernel_spec
from .usage import PROG, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SUFFIX = ".toml"
"""The suffix of a config file and of a run's record."""

CHECKSUMS = "sha256"
"""The table of a record that holds the input files' sha256 checksums, by option."""

PATH_OPTIONS = ("image", "initial", "walls", "mobility", "out", "animate")
"""Options whose value is a path (read from the config file's folder when relative); ``kernel`` is one when it
names a file."""

LIST_OPTIONS = ("boundary", "methods", "temperatures")
"""Options that take a comma-separated list on the command line: a TOML array in a config file."""

COMMAND_LINE_ONLY = ("config", "no_cache", "help")
"""Options a config file cannot set: another config, and what acts before the command reads the file."""


@dataclasses.dataclass
class Source:
    """Where the options of a run came from: the config file (None without one) and the keys it set.

    Attributes
    ----------
    path : str or None
        The ``--config`` file.
    keys : dict
        Option destination (``'save_every'``) to the key as the file spells it, for each value the
        file set (those the command line overrides are left out).
    version : str or None
        The package version the file records.
    """

    path: str | None = None
    keys: dict = dataclasses.field(default_factory=dict)
    version: str | None = None

    def label(self, option: str) -> str:
        """``option`` as a message names it: with the key and file where the value came from the config."""
        dest = option.lstrip("-").replace("-", "_")
        if dest in self.keys:
            return f"{option} (key {self.keys[dest]!r} of {self.path})"
        return option


def _refuse(path, message):
    raise UsageError(f"--config {path}: {message}")


def _load(path):
    if not os.path.isfile(path):
        what = "is a folder" if os.path.isdir(path) else "does not exist"
        raise UsageError(f"--config: file {path!r} {what}")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        _refuse(path, f"not a valid TOML file ({exc})")
    except (OSError, UnicodeDecodeError) as exc:
        _refuse(path, f"could not be read ({exc})")


def _text(value):
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _tokens(path, key, action, value):
    """``--option=value`` for the command's parser, from a TOML value."""
    option = max(action.option_strings, key=len)
    if action.nargs == 0:  # a switch
        if not isinstance(value, bool):
            _refuse(path, f"key {key!r} is a switch: give true or false, got {value!r}")
        return [option] if value else []
    if isinstance(value, list):
        if action.dest not in LIST_OPTIONS:
            _refuse(path, f"key {key!r} takes one value, got a list {value!r}")
        if not value or any(isinstance(v, (bool, list, dict)) or not isinstance(v, (str, int, float)) for v in value):
            _refuse(path, f"key {key!r}: expected a value or a list of values, got {value!r}")
        return [f"{option}={','.join(_text(v) for v in value)}"]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        _refuse(path, f"key {key!r}: expected a value, got {value!r} ({type(value).__name__})")
    return [f"{option}={_text(value)}"]


def _is_file_kernel(text):
    try:
        return kernel_spec(text)[0] == "file"
    except Exception:  # noqa: BLE001 - a bad spec is refused by the parser, naming the key
        return False


def apply(args, command, parser) -> Source:
    """Merge ``--config`` into ``args`` (the flags given win); the :class:`Source` of the values.

    ``parser`` is the command's subparser (every value is parsed by it). Removes
    ``args.given``. Sets JAX's x64 mode when the file asks for it (the command
    line's ``--x64`` is applied before the command runs).
    """
    given = set(vars(args).pop("given", ()))
    path = getattr(args, "config", None)
    if path is None:
        return Source()
    data = _load(path)
    folder = os.path.dirname(path)
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    source = Source(path=path)
    if "command" in data and data["command"] != command:
        _refuse(
            path,
            f"it holds a `{data['command']}` run; give it to `{PROG} {data['command']} --config` (or drop its key)",
        )
    if "version" in data:
        source.version = str(data["version"])
    seen = {}
    for key, value in data.items():
        if key in ("command", "version", CHECKSUMS):
            continue
        dest = key.replace("-", "_")
        if dest in seen:
            _refuse(path, f"keys {seen[dest]!r} and {key!r} set the same option")
        seen[dest] = key
        if dest == "scenario":
            if not isinstance(value, str):
                _refuse(path, f"key 'scenario' must be a scenario's name, got {value!r}")
            if args.scenario is None:
                args.scenario = value
                source.keys["scenario"] = key
            continue
        if dest not in actions or dest in COMMAND_LINE_ONLY:
            why = "is an option of the command line only" if dest in actions else "is unknown"
            _refuse(
                path,
                f"key {key!r} {why}; keys are the long options of `{PROG} {command}` (see --help, dashes or "
                f"underscores) and 'scenario'",
            )
        if isinstance(value, str) and value and (dest in PATH_OPTIONS or (dest == "kernel" and _is_file_kernel(value))):
            value = os.path.join(folder, os.path.expanduser(value))
        tokens = _tokens(path, key, actions[dest], value)
        try:
            parsed = parser.parse_args(tokens)
        except UsageError as exc:
            message = str(exc).split(": ", 1)[-1] if str(exc).startswith(PROG) else str(exc)
            _refuse(path, f"key {key!r}: {message}")
        if dest not in given:
            setattr(args, dest, getattr(parsed, dest))
            source.keys[dest] = key
    _check_sums(args, data, source)
    if getattr(args, "x64", False):
        import jax

        jax.config.update("jax_enable_x64", True)
    if source.version is not None:
        if source.version != __version__:
            print(
                f"{PROG}: warning: {path} was written by {PROG} {source.version}, this is {__version__}: the "
                f"numbers may differ",
                file=sys.stderr,
            )
    return source


def _check_sums(args, data, source):
    path = source.path
    sums = data.get(CHECKSUMS, {})
    if not isinstance(sums, dict):
        _refuse(path, f"[{CHECKSUMS}] must be a table of checksums by option, got {sums!r}")
    for key, digest in sums.items():
        dest = key.replace("-", "_")
        if dest not in FILE_OPTIONS:
            _refuse(path, f"[{CHECKSUMS}] key {key!r} is unknown; allowed: {', '.join(FILE_OPTIONS)}")
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            _refuse(path, f"[{CHECKSUMS}] {key}: expected 64 hex digits, got {digest!r}")
        if dest not in source.keys:  # the command line gave another file: its own checksum does not apply
            continue
        file = getattr(args, dest)
        if dest == "kernel" and not _is_file_kernel(file):
            _refuse(path, f"[{CHECKSUMS}] has a checksum for 'kernel', but kernel {file!r} is not a file")
        option = source.label(f"--{key}")
        if not os.path.isfile(file):
            raise UsageError(f"{option}: file {file!r} does not exist")
        now = sha256(file)
        if now != digest:
            raise UsageError(
                f"{option}: file {file!r} has changed since the record was written (sha256 {now[:12]}..., "
                f"recorded {digest[:12]}...); the run would not be the same"
            )


# -- the record --------------------------------------------------------------------------------------


def record_path(output) -> str:
    """The record beside a run's main output: ``NAME.toml`` for ``NAME.npz`` or ``NAME.gif``."""
    return os.path.splitext(output)[0] + SUFFIX


def check_record(output, files=()):
    """The record's path for ``output``, checked for writing, and every path it will hold checked for TOML."""

    path = record_path(output)
    try:
        path = _io.check_target(path, (SUFFIX,), "the run's record")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for file in files:
        try:
            _string(_relative(file, path))
        except ValueError:
            raise UsageError(f"file name {file!r} cannot be written into the run's record (not UTF-8)") from None
    return path


def _relative(file, record):
    """``file`` as the record holds it: relative to the record's folder (absolute across drives)."""
    try:
        return os.path.relpath(os.path.abspath(file), os.path.dirname(os.path.abspath(record)))
    except ValueError:
        return os.path.abspath(file)


def _boundary(tank):
    names = [str(b) for b in tank.boundary]
    return names[0] if len(set(names)) == 1 else names


def record(command, args, sc, found, path, **resolved) -> dict:
    """What the run needs to run again, as a flat table (see the module's docstring).

    ``sc`` is the problem the run solved (:func:`diffusion_conv.cli.inputs.problem`),
    ``found`` the inputs read (:func:`diffusion_conv.cli.inputs.read`), ``path`` the record's
    own path (paths are written relative to its folder); ``resolved`` holds what the command
    settled on: ``method`` or ``methods`` and ``reference``, ``steps``, ``save_every``,
    ``particles`` (None when no method samples), in that order.
    """
    import jax

    data: dict = {"command": command, "version": __version__}
    if args.scenario is not None:
        data["scenario"] = args.scenario
    for option in ("image", "initial"):
        if option in found.files:
            data[option] = _relative(found.files[option], path)
    if getattr(args, "channels", False):
        data["channels"] = True
    for option in ("walls", "mobility"):
        if option in found.files:
            data[option] = _relative(found.files[option], path)
    if args.kernel is not None:
        data["kernel"] = _relative(args.kernel, path) if "kernel" in found.files else args.kernel
        data["normalize"] = args.normalize or "softmax"
    if args.kernel is not None or args.temperature is not None:
        data["temperature"] = 1.0 if args.temperature is None else args.temperature
    if getattr(args, "temperatures", None):
        data["temperatures"] = list(args.temperatures)
    data["boundary"] = _boundary(sc.tank)
    data["dx"] = float(sc.tank.dx)
    data["dt"] = float(args.dt if args.dt is not None else 1.0)
    particles = resolved.pop("particles", None)
    for key, value in resolved.items():
        data[key.replace("_", "-")] = value
    if args.size is not None:
        data["size"] = args.size
    if particles is not None:
        data["particles"] = int(particles)
    data["seed"] = args.seed
    data["x64"] = bool(jax.config.jax_enable_x64)
    if getattr(args, "devices", None) is not None:
        data["devices"] = args.devices
    if found.digests:
        data[CHECKSUMS] = dict(found.digests)
    return data


def write(path, data, command) -> None:
    """Write the record ``data`` to ``path`` atomically (a temporary name, then a rename)."""

    name = os.path.basename(path)
    head = (
        f"# {PROG} {data.get('version', '')}: this {command} again, bit for bit:\n"
        f"#   {PROG} {command} --config {name}\n"
        f"# (paths are relative to this file's folder; options given on the command line override these)\n"
    )
    text = head + dumps(data)
    with _io.atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)


# -- a writer for flat TOML -------------------------------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(text: str) -> str:
    text.encode("utf-8")  # a file name that is not text (surrogate escapes) has no TOML form: ValueError
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # the shortest text that reads back to the same float
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"a record holds strings, numbers, booleans and lists, got {type(value).__name__}")


def dumps(data: dict) -> str:
    """``data`` as TOML: its scalars and lists first, then each of its tables (one level of them).

    Keys must be bare TOML keys (letters, digits, ``-`` and ``_``).
    """
    lines, tables = [], []
    for key, value in data.items():
        if not key or not all(c.isascii() and (c.isalnum() or c in "-_") for c in key):
            raise ValueError(f"{key!r} is not a bare TOML key")
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_value(value)}")
    for key, table in tables:
        lines.append("")
        lines.append(f"[{key}]")
        lines.extend(f"{k} = {_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"
