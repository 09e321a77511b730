"""Which random generator a sampler, ``random_split`` or a ``DataLoader`` draws from.

PyTorch's data API takes ``generator=None`` everywhere: None means the global
generator (``torch.manual_seed`` fixes it), or a ``torch.Generator`` of your own.
tinynet's global generator is ``backend.get_rng()`` (a ``numpy.random.Generator``
that ``tn.manual_seed`` replaces), so here ``generator`` is None or a
``numpy.random.Generator`` (anything with its ``integers`` and ``permutation``
methods)::

    g = np.random.default_rng(42)
    train, val = random_split(ds, [0.8, 0.2], generator=g)

The global generator is looked up at every draw, never cached: ``tn.manual_seed``
replaces it with a new object.
"""
from ... import backend

__all__ = ["numpy_generator", "draw_seed", "randperm"]

_SEED_BOUND = 2**63 - 1   # seeds are non-negative int64, as torch's random_() draws them


def numpy_generator(generator):
    """The ``numpy.random.Generator`` to draw from: ``generator``, or the global one if None."""
    if generator is None:
        return backend.get_rng()
    if hasattr(generator, "integers") and hasattr(generator, "permutation"):
        return generator
    raise TypeError(f"generator should be None (tinynet's global generator, seeded by "
                    f"tn.manual_seed) or a numpy.random.Generator "
                    f"(np.random.default_rng(seed)), got {type(generator).__name__}")


def draw_seed(generator=None):
    """A fresh seed (a non-negative Python int) drawn from ``generator`` (or the global one)."""
    return int(numpy_generator(generator).integers(0, _SEED_BOUND))


def randperm(n, generator=None):
    """A random permutation of ``0 .. n-1`` as a list of Python ints."""
    return numpy_generator(generator).permutation(n).tolist()
