"""Which random generator a sampler, ``random_split`` or a ``DataLoader`` draws from.

PyTorch's data API takes ``generator=None`` everywhere: None means the global
generator (``torch.manual_seed`` fixes it), or a ``torch.Generator`` of your own.
tinynet's are the same: None is the global generator (``tn.manual_seed``), or a
``tn.Generator``; a ``numpy.random.Generator`` is accepted too.  One function,
``tinynet.random.rng_of``, turns any of them into the NumPy generator drawn from,
here as in ``tn.randperm`` and the other random factories::

    g = tn.Generator().manual_seed(42)
    train, val = random_split(ds, [0.8, 0.2], generator=g)

The global generator is looked up at every draw, never cached: ``tn.manual_seed``
replaces it with a new object.
"""
from ...random import rng_of

__all__ = ["numpy_generator", "draw_seed", "randperm"]

_SEED_BOUND = 2**63 - 1   # seeds are non-negative int64, as torch's random_() draws them


def numpy_generator(generator):
    """The ``numpy.random.Generator`` to draw from for ``generator`` (see ``rng_of``)."""
    return rng_of(generator)


def draw_seed(generator=None):
    """A fresh seed (a non-negative Python int) drawn from ``generator`` (or the global one)."""
    return int(numpy_generator(generator).integers(0, _SEED_BOUND))


def randperm(n, generator=None):
    """A random permutation of ``0 .. n-1`` as a list of Python ints."""
    return numpy_generator(generator).permutation(n).tolist()
