"""The model a fit descends: frames pushed forward by the propagator, the loss and its block design."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ..core import propagate
from ..propagator import Propagator

METHODS = ("lbfgs",)
"""Optimisers :func:`fit_propagator` accepts."""


def _predict(weights, inputs, steps, boundary, walls):
    """Each input frame pushed through the jump weights, shape of ``inputs``.

    ``steps`` is a tuple with the steps of each pair (static). With one count
    for all, every input takes that many steps; otherwise one loop pushes all of
    them a step at a time and keeps each pair's frame at its own count (one
    compiled loop whatever the number of distinct counts).
    """
    prop = Propagator._trusted(weights)
    wall = None if walls is None else walls.array

    def push(n):
        return jax.vmap(lambda f: propagate(f, prop, n, boundary=boundary, walls=wall))

    if len(set(steps)) == 1:
        return push(steps[0])(inputs)
    one = push(1)
    counts = jnp.asarray(steps).reshape((-1,) + (1,) * (inputs.ndim - 1))

    def body(carry, n):
        fields, out = carry
        fields = one(fields)
        return (fields, jnp.where(counts == n, fields, out)), None

    (_, out), _ = jax.lax.scan(body, (inputs, jnp.zeros_like(inputs)), jnp.arange(1, max(steps) + 1))
    return out


def _loss(z, inputs, targets, scale, steps, boundary, walls, temperature):
    w = Propagator.from_logits(z, temperature=temperature).weights
    r = _predict(w, inputs, steps, boundary, walls) - targets
    return jnp.sum(r * r) / scale


_STATIC = ("steps", "boundary", "walls", "temperature")
value_and_grad = jax.jit(jax.value_and_grad(_loss), static_argnames=_STATIC)
hessian = jax.jit(jax.hessian(_loss), static_argnames=_STATIC)


@functools.partial(jax.jit, static_argnames=("steps", "boundary", "walls", "block"))
def design(w, inputs, targets, steps, boundary, walls, block):
    """The data's view of the weights at ``w``, one weight direction at a time.

    Returns ``J^T J (e_k - e_c)`` for each weight ``k`` (K, K), ``J`` the
    prediction's Jacobian in weight space and ``c`` the centre weight: the Gram
    matrix on the directions that keep the sum of the weights, taken from the
    differences of the Jacobian's columns (the columns themselves are nearly
    equal after many steps, and their own Gram matrix would lose the
    differences to rounding); the residual times each Jacobian column summed
    over spatial blocks (K, T, blocks); and how strongly each cell reacts to a
    change of the kernel's shape (T, *shape).
    """
    K = w.size
    pred = functools.partial(_predict, inputs=inputs, steps=steps, boundary=boundary, walls=walls)
    resid, vjp = jax.vjp(pred, w)
    resid = resid - targets
    eye = jnp.eye(K, dtype=w.dtype).reshape((K,) + w.shape)
    column = lambda e: jax.jvp(pred, (w,), (e,))[1]  # noqa: E731
    centre = column(eye[K // 2])
    shape = inputs.shape[1:]
    nb = [-(-n // block) for n in shape]
    pad = [(0, 0)] + [(0, b * block - n) for b, n in zip(nb, shape)]
    split = (inputs.shape[0],) + tuple(x for b in nb for x in (b, block))

    def body(acc, e):
        col = column(e)
        sums = jnp.pad(col * resid, pad).reshape(split).sum(axis=tuple(range(2, 2 * len(shape) + 1, 2)))
        return acc + jnp.abs(col - centre), (vjp(col - centre)[0].ravel(), sums.reshape(sums.shape[0], -1))

    informative, (gram, blocks) = jax.lax.scan(body, jnp.zeros_like(inputs), eye)
    return gram, blocks, informative
