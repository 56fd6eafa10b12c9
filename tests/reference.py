"""An independent, deliberately naive statement of the shared process (DESIGN.md section 2).

It walks every cell and every offset in plain Python, folds coordinates by repeated
reflection and checks the wall box cell by cell. Slow, but written without any of the
package's code, so the package's methods can be checked against it.
"""

import itertools

import numpy as np


def fold(z, n, boundary):
    """Unfolded coordinate -> cell index in [0, n), or None when absorbed."""
    if boundary == "periodic":
        return z % n
    if boundary == "absorb":
        return z if 0 <= z < n else None
    while not 0 <= z < n:  # reflect: mirror at -1/2 and n - 1/2 until inside
        z = -1 - z if z < 0 else 2 * n - 1 - z
    return z


def blocked(x, d, walls, boundary):
    """True when a wall cell lies in the box spanned by x and x + d (read through the boundary)."""
    if walls is None:
        return False
    ranges = []
    for xa, da, n, b in zip(x, d, walls.shape, boundary):
        cells = set()
        for t in range(min(0, da), max(0, da) + 1):
            f = fold(xa + t, n, b)
            if f is not None:
                cells.add(f)
        ranges.append(sorted(cells))
    return any(walls[c] for c in itertools.product(*ranges))


def transition_matrix(shape, weights, boundary, walls=None):
    """P[y, x]: probability that a particle in cell x is in cell y after one step
    (flattened C order). Columns sum to 1 minus the absorbed probability."""
    weights = np.asarray(weights, dtype=np.float64)
    radius = [s // 2 for s in weights.shape]
    size = int(np.prod(shape))
    P = np.zeros((size, size))
    for x in itertools.product(*[range(n) for n in shape]):
        if walls is not None and walls[x]:
            continue
        xi = np.ravel_multi_index(x, shape)
        for idx in itertools.product(*[range(2 * r + 1) for r in radius]):
            w = weights[idx]
            d = [i - r for i, r in zip(idx, radius)]
            if blocked(x, d, walls, boundary):
                P[xi, xi] += w
                continue
            y = [fold(xa + da, n, b) for xa, da, n, b in zip(x, d, shape, boundary)]
            if any(v is None for v in y):
                continue  # absorbed
            P[np.ravel_multi_index(y, shape), xi] += w
    return P


def box_cells(x, d, shape, boundary):
    """Every cell of the box spanned by x and x + d, read through the boundary, each once (none beyond an absorbing edge)."""
    ranges = []
    for xa, da, n, b in zip(x, d, shape, boundary):
        cells = {fold(xa + t, n, b) for t in range(min(0, da), max(0, da) + 1)}
        ranges.append(sorted(c for c in cells if c is not None))
    return list(itertools.product(*ranges))


def mobility_transition_matrix(shape, weights, boundary, mobility):
    """P[y, x] with a mobility map: the jump by d is taken with w[d] times the harmonic mean of the
    mobilities of its box (0 when a cell of the box has mobility 0), and the particle stays otherwise."""
    weights = np.asarray(weights, dtype=np.float64)
    radius = [s // 2 for s in weights.shape]
    size = int(np.prod(shape))
    P = np.zeros((size, size))
    for x in itertools.product(*[range(n) for n in shape]):
        xi = np.ravel_multi_index(x, shape)
        for idx in itertools.product(*[range(2 * r + 1) for r in radius]):
            d = [i - r for i, r in zip(idx, radius)]
            m = [mobility[c] for c in box_cells(x, d, shape, boundary)]
            a = 0.0 if min(m) == 0 else len(m) / sum(1.0 / v for v in m)
            P[xi, xi] += weights[idx] * (1 - a)
            y = [fold(xa + da, n, b) for xa, da, n, b in zip(x, d, shape, boundary)]
            if any(v is None for v in y):
                continue  # absorbed
            P[np.ravel_multi_index(y, shape), xi] += weights[idx] * a
    return P
