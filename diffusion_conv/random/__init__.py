"""Counter-based random numbers and exact draws: each a pure function of a key and an entry's global index.

- :func:`random_bits`, :func:`index_words`, :func:`uniform`: words and uniforms
  of the threefry-2x32 hash of ``(global index, stream)`` under the key;
- :func:`binomial`: exact Binomial(n, p) draws (CDF inversion, BTRS rejection);
- :func:`multinomial`: exact splits of counts among categories.

The same key gives the same numbers whatever the shape, slab, device or process
an entry is drawn in: give a slab its ``offset`` (the global index of its first entry).
"""

from ._binomial import binomial
from ._bits import global_index, index_words, random_bits, uniform
from ._multinomial import multinomial

__all__ = ["binomial", "global_index", "index_words", "multinomial", "random_bits", "uniform"]
