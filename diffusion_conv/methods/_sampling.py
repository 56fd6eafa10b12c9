"""What the stochastic methods need of randomness: their argument checks (keys, particle counts,
the count dtype) and the draws of :mod:`diffusion_conv.random`, re-exported here."""

from __future__ import annotations

import jax
import numpy as np

from .. import _checks
from ..errors import InputError, InputTypeError
from ..random import binomial, global_index, index_words, multinomial, random_bits, uniform

__all__ = [
    "binomial",
    "check_key",
    "check_n_particles",
    "count_dtype",
    "global_index",
    "index_words",
    "max_exact_count",
    "multinomial",
    "random_bits",
    "uniform",
    "x64_enabled",
]


# -- argument checks (shared with the particles method) --------------------------------------
def x64_enabled() -> bool:
    """Whether JAX's 64-bit mode is on (int64 counts, float64 draws)."""
    return _checks.float_dtype() == np.float64


def count_dtype():
    """The integer dtype of counts: int64 in JAX x64 mode, else int32."""
    return np.dtype(np.int64) if x64_enabled() else np.dtype(np.int32)


def max_exact_count() -> int:
    """Largest count the binomial draws keep exact: ``2**53`` in x64 mode, else ``2**24``."""
    return 2**53 if x64_enabled() else 2**24


def check_n_particles(n_particles, limit: int) -> int:
    """``n_particles`` as an int in ``[1, limit]``; TypeError/ValueError naming it otherwise."""
    if n_particles is None:
        raise InputTypeError("n_particles is required by the stochastic methods (an integer > 0)")
    n = _checks.integer("n_particles", n_particles, minimum=1)
    if n > limit:
        hint = (
            ""
            if x64_enabled()
            else (
                "; enable JAX's 64-bit mode (jax.config.update('jax_enable_x64', True), JAX_ENABLE_X64=1, "
                "or the CLI's --x64) to count more"
            )
        )
        raise InputError(f"n_particles={n} exceeds {limit}, the largest count kept exact here{hint}")
    return n


def check_key(key):
    """A typed JAX key from ``key`` (a typed key, or a raw uint32 key of the default implementation).

    Raises TypeError for anything else; there is no default seed.
    """
    if key is None:
        raise InputTypeError("key is required by the stochastic methods: pass key=jax.random.key(seed)")
    dtype = getattr(key, "dtype", None)
    if dtype is None or not hasattr(key, "shape"):
        raise InputTypeError(f"key must be a JAX random key (jax.random.key(seed)), got {type(key).__name__}")
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        typed = key
    elif dtype == np.uint32:
        raw_shape = jax.random.key_data(jax.random.key(0)).shape
        if tuple(key.shape) != raw_shape:
            raise InputTypeError(f"a raw uint32 key must have shape {raw_shape}, got {tuple(key.shape)}")
        typed = jax.random.wrap_key_data(key)
    else:
        raise InputTypeError(
            f"key must be a JAX random key (jax.random.key(seed) or jax.random.PRNGKey), got an array of dtype {dtype}"
        )
    if typed.shape != ():
        raise InputTypeError(
            f"key must be a single key, got a batch of shape {typed.shape}; use jax.vmap for ensembles"
        )
    return typed
