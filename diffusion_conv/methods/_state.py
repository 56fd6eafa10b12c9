"""A method's state: named JAX arrays (the pytree's leaves) and static data (its auxiliary data)."""

from __future__ import annotations

import jax


@jax.tree_util.register_pytree_node_class
class State:
    """A method's state: named JAX arrays (the pytree's leaves) and hashable static data.

    Parameters
    ----------
    static : hashable
        What the compiled program depends on (shapes, boundaries, the path taken).
    **arrays
        The leaves; ``None`` entries are allowed and stay ``None``.
    """

    __slots__ = ("static", "arrays")

    def __init__(self, static, **arrays):
        object.__setattr__(self, "static", static)
        object.__setattr__(self, "arrays", arrays)

    def __getattr__(self, name):
        try:
            return object.__getattribute__(self, "arrays")[name]
        except KeyError:
            raise AttributeError(name) from None

    def replace(self, **changes) -> State:
        """A copy with some arrays replaced."""
        return State(self.static, **{**self.arrays, **changes})

    def tree_flatten(self):
        names = tuple(sorted(self.arrays))
        return tuple(self.arrays[n] for n in names), (self.static, names)

    @classmethod
    def tree_unflatten(cls, aux, children):
        static, names = aux
        return cls(static, **dict(zip(names, children)))

    def __repr__(self):
        return f"State({', '.join(self.arrays)})"
