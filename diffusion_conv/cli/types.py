"""The types of the command's options: each parses one argument or raises the error argparse reports in one line."""

from __future__ import annotations

import argparse

import numpy as np

from ..scenarios import KERNELS

MAX_STEPS = 2**31 - 1
"""Largest ``--steps`` and ``--save-every``: the methods count steps in 32-bit integers on the device."""


MAX_SEED = 2**32 - 1
"""Largest ``--seed``: without JAX's x64 mode a key keeps the low 32 bits of its seed, so larger seeds
would silently repeat smaller ones."""


def integer(text, minimum, maximum, what):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"got {text}, more than the largest allowed, {maximum}")
    return value


def positive(text):
    return integer(text, 1, None, "a positive integer")


def steps_arg(text):
    return integer(text, 0, MAX_STEPS, f"an integer from 0 to {MAX_STEPS}")


def every_arg(text):
    return integer(text, 1, MAX_STEPS, f"an integer from 1 to {MAX_STEPS}")


def seed_arg(text):
    return integer(text, 0, MAX_SEED, f"an integer from 0 to {MAX_SEED}")


def nonnegative(text):
    return integer(text, 0, 2**31 - 1, "an integer >= 0")


def seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds from 1 to 3600, got {text!r}")
    return value


def temperatures(text):
    values = []
    for part in text.split(","):
        try:
            t = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated positive numbers, got {text!r}") from None
        if not (np.isfinite(t) and 1e-6 <= t <= 1e6):
            raise argparse.ArgumentTypeError(f"each temperature must be a number in [1e-6, 1e6], got {part!r}")
        values.append(t)
    if not values or len(values) > 64:
        raise argparse.ArgumentTypeError(f"give 1 to 64 temperatures, got {len(values)}")
    return values


def finite_positive(text, what="a positive number"):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def cell_arg(text):
    return finite_positive(text, "a finite positive number")


def temperature_arg(text):
    value = finite_positive(text, "a temperature in [1e-6, 1e6]")
    if not 1e-6 <= value <= 1e6:
        raise argparse.ArgumentTypeError(f"expected a temperature in [1e-6, 1e6], got {text!r}")
    return value


BOUNDARY_NAMES = ("reflect", "periodic", "absorb")
"""The boundaries ``--boundary`` takes (the names of :data:`diffusion_conv.lattice.BOUNDARIES`)."""


def boundary_arg(text):
    """``--boundary``: one name for every axis, or a comma-separated list, one per axis (a tuple of names)."""
    names = tuple(part.strip() for part in text.split(","))
    for name in names:
        if name not in BOUNDARY_NAMES:
            raise argparse.ArgumentTypeError(
                f"boundary {name!r} is unknown; allowed: {', '.join(BOUNDARY_NAMES)}, one for every axis "
                f"or a comma-separated list, one per axis"
            )
    return names


KERNEL_FILES = (".npy", ".txt")
"""The suffixes of a kernel file: a NumPy array, or a text table (numpy.loadtxt)."""


def kernel_spec(text):
    """``--kernel`` read: ``('file', path, None)`` or ``('name', name, param)``; ArgumentTypeError when neither.

    The parameter is checked for its type and sign here (a float sigma, an odd size); the kernel itself
    (a file's contents, its dimension, the normalisation) is checked once the field is known.
    """

    if text.lower().endswith(KERNEL_FILES):
        return "file", text, None
    name, colon, param = text.partition(":")
    if name not in KERNELS:
        import os

        if os.path.exists(text):
            raise argparse.ArgumentTypeError(f"kernel file {text!r} must end in {' or '.join(KERNEL_FILES)}")
        raise argparse.ArgumentTypeError(
            f"kernel {text!r} is neither a name nor a {' or '.join(KERNEL_FILES)} file; names: "
            + "; ".join(KERNELS.values())
        )
    if not colon:
        return "name", name, None
    if name in ("edge", "sobel"):
        raise argparse.ArgumentTypeError(f"kernel {name!r} takes no parameter, got {text!r}")
    if name == "gaussian":
        try:
            sigma = finite_positive(param)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected gaussian:SIGMA with SIGMA a positive number of cells, got {text!r}"
            ) from None
        return "name", name, sigma
    try:
        size = int(param)
    except ValueError:
        size = 0
    if size < 1 or size % 2 == 0:
        raise argparse.ArgumentTypeError(f"expected box:SIZE with SIZE an odd positive integer, got {text!r}")
    return "name", name, size


def kernel_arg(text):
    kernel_spec(text)
    return text
