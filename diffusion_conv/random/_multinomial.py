"""Exact multinomial splits of integer counts: sequential conditional binomials."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import _checks
from ._binomial import binomial


def multinomial(key, n, weights, *, offset=0):
    """Split each entry of ``n`` among ``len(weights)`` categories: sequential conditional binomials.

    Parameters
    ----------
    key : typed JAX key
    n : integer array, any shape
        Counts to split (each at most ``2**24`` in float32, ``2**53`` in JAX's x64 mode).
    weights : array ``(K,)`` or ``(K, *n.shape)``
        Category probabilities, summing to 1: one set for every entry, or one
        per entry (``weights[:, i]`` the probabilities of entry ``i``; a cell
        whose jumps are taken with probabilities that depend on the cell).
    offset : int or integer scalar (may be traced), default 0
        Global index of the first entry of ``n`` (row-major), as in :func:`binomial`.

    Returns
    -------
    integer array ``(K, *n.shape)`` of ``n``'s dtype whose sum over the first
    axis equals ``n`` exactly.

    Notes
    -----
    Category ``k < K - 1`` is the draw :func:`binomial` with key
    ``fold_in(key, k)`` and the same ``offset`` of the count not yet placed,
    so an entry's split depends only on ``(key, its global index, its count)``:
    a slab drawn with its offset matches the whole array drawn at once (with
    per-entry weights, cut the weights with the slab). The categories are the
    iterations of one loop: the compiled program holds one copy of the sampler,
    whatever ``K``, and per-entry weights only change the probabilities each
    binomial reads.
    """
    fdt = _checks.float_dtype()
    w = jnp.asarray(weights, fdt)
    suffix = jnp.cumsum(w[::-1], axis=0)[::-1]
    # conditional probability of category k given that the count was not put in 0..k-1
    p = jnp.where(suffix > 0, jnp.minimum(w / jnp.where(suffix > 0, suffix, 1), 1), 0)[:-1]

    def body(remaining, xs):
        pk, k = xs
        a = binomial(jax.random.fold_in(key, k), remaining, pk, offset=offset)
        return remaining - a, a

    remaining, parts = jax.lax.scan(body, n.astype(fdt), (p, jnp.arange(w.shape[0] - 1)))
    return jnp.concatenate([parts, remaining[None]]).astype(n.dtype)
