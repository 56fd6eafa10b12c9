"""A batch of random keys, flattened to the members of a run, without compiling a program for it.

A concrete key's words are laid out by numpy (broadcast to the batch, one row per member) and wrapped back into
JAX keys only when a group of members takes them; a traced key is broadcast by JAX.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks


class HostKeys(NamedTuple):
    """A concrete batch of keys as their words on the host and the key implementation."""

    data: np.ndarray
    impl: object


def batch_keys(key, batch, size):
    """``key`` (typed or raw) broadcast to ``batch`` and flattened to ``size`` members: HostKeys or a JAX array."""
    k = key if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else jax.random.wrap_key_data(key)
    if not _checks.is_concrete(k):
        return jnp.broadcast_to(k, batch).reshape((size,))
    data = np.asarray(jax.random.key_data(k))
    tail = data.shape[k.ndim :]
    return HostKeys(np.broadcast_to(data, batch + tail).reshape((size,) + tail), jax.random.key_impl(k))


def take(keys, index):
    """The keys of the members ``index`` (all where None) as a JAX key array (None stays None)."""
    if not isinstance(keys, HostKeys):
        return keys if index is None or keys is None else keys[index]
    data = keys.data if index is None else keys.data[index]
    return jax.random.wrap_key_data(data, impl=keys.impl)
