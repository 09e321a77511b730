"""Random generators with PyTorch's names: ``tn.Generator``, ``tn.default_generator``,
``tn.manual_seed``, ``tn.seed``, ``tn.initial_seed``, ``tn.get_rng_state``, ``tn.set_rng_state``.

The PyTorch idiom runs unchanged::

    g = tn.Generator().manual_seed(42)
    perm = tn.randperm(10, generator=g)
    train, val = tn.utils.data.random_split(ds, [0.8, 0.2], generator=g)
    loader = tn.utils.data.DataLoader(train, shuffle=True, generator=g)

tinynet draws random numbers on the host, from a ``numpy.random.Generator``, and
then moves them to the tensor's device.  So a ``Generator`` always draws on the
CPU: ``Generator(device="gpu")`` (or ``"cuda"``) is accepted and remembers its
device, but draws exactly what a CPU generator with the same seed draws, and a
seed gives the same numbers on every device.  The numbers differ from PyTorch's
(another algorithm, NumPy's PCG64); the rules are the same: a seed fixes the
stream, and generators are independent of each other and of the global one.

The global generator is the one in ``tinynet.backend`` that initialization,
dropout and the random factories draw from when no ``generator=`` is given;
``tn.default_generator`` is a ``Generator`` that reads and seeds it.  One
exception: dropout on the GPU draws its masks on the device, from
``cupy.random`` (``tn.manual_seed`` seeds it too, but ``get_rng_state`` does
not hold its state), so as not to copy a full-size mask over the bus each step.
"""
import json
import os

import numpy as np

from . import backend
from .autograd import Tensor
from .device import device as _device

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed",
           "get_rng_state", "set_rng_state", "rng_of"]

#: The seed of a new ``Generator`` (PyTorch's: ``torch.Generator().initial_seed()``).
GENERATOR_DEFAULT_SEED = 67280421310721


class Generator:
    """A random generator of its own (``torch.Generator``), for ``generator=`` arguments.

    A new generator is seeded with ``GENERATOR_DEFAULT_SEED``, as in PyTorch, so
    two unseeded generators give the same stream; call ``manual_seed`` (which
    returns the generator, for ``Generator().manual_seed(42)``) or ``seed``.
    The draws come from a ``numpy.random.Generator`` that this object owns, on
    the CPU whatever ``device`` says (see the module docstring).
    """

    def __init__(self, device="cpu"):
        self._device = _device(device)
        self.manual_seed(GENERATOR_DEFAULT_SEED)

    @property
    def device(self):
        """The device given at construction (a ``tn.device``); draws happen on the CPU anyway."""
        return self._device

    def manual_seed(self, seed):
        """Restart the stream from ``seed`` (an int; a negative one wraps, as in PyTorch).

        Returns the generator, for ``tn.Generator().manual_seed(42)``.
        """
        seed = backend.normalize_seed(seed)
        self._rng = np.random.default_rng(seed)
        self._initial_seed = seed
        return self

    def seed(self):
        """Seed from the operating system's entropy (not reproducible); returns the seed used."""
        fresh = int.from_bytes(os.urandom(8), "little")   # 64 bits, as torch's seed() returns
        self.manual_seed(fresh)
        return fresh

    def initial_seed(self):
        """The seed of the last ``manual_seed``/``seed`` (draws since then do not change it)."""
        return self._initial_seed

    def get_state(self):
        """A snapshot of the generator's state, as a 1-D uint8 Tensor for ``set_state``."""
        return _encode_state(self._rng)

    def set_state(self, new_state):
        """Restore a state that ``get_state`` returned; the next draws repeat. Returns self."""
        _restore_state(self._rng, new_state)
        return self

    def __repr__(self):
        return (f"{type(self).__name__}(device={str(self.device)!r}, "
                f"initial_seed={self.initial_seed()})")


class _DefaultGenerator(Generator):
    """``tn.default_generator``: the global generator of ``tinynet.backend``, as a ``Generator``.

    It owns nothing: every draw and state access goes to ``backend.get_rng()``,
    which ``backend.manual_seed`` replaces with a new object, so this object
    stays valid across seeds.  Seeding it is ``tn.manual_seed``: it also seeds
    CuPy's generator (GPU dropout masks) and NumPy's legacy one, which keeps one
    meaning for "the global seed" in tinynet.
    """

    def __init__(self):
        self._device = _device("cpu")

    @property
    def _rng(self):
        return backend.get_rng()

    def manual_seed(self, seed):
        backend.manual_seed(seed)
        return self

    def initial_seed(self):
        return backend.initial_seed()

    def __repr__(self):
        return f"default_generator(initial_seed={self.initial_seed()})"


default_generator = _DefaultGenerator()


def manual_seed(seed):
    """Seed the global generator (and CuPy's); returns ``tn.default_generator``, as PyTorch."""
    return default_generator.manual_seed(seed)


def seed():
    """Seed the global generator from the operating system's entropy; returns the seed."""
    return default_generator.seed()


def initial_seed():
    """The seed of the global generator (``backend.DEFAULT_SEED`` until one is set)."""
    return default_generator.initial_seed()


def get_rng_state():
    """The global generator's state as a uint8 Tensor (see ``Generator.get_state``)."""
    return default_generator.get_state()


def set_rng_state(new_state):
    """Restore the global generator's state from ``get_rng_state()``."""
    default_generator.set_state(new_state)


def rng_of(generator):
    """The ``numpy.random.Generator`` that a ``generator=`` argument means.

    None is the global generator, a ``tn.Generator`` its own NumPy generator,
    and a ``numpy.random.Generator`` itself (``tinynet.utils.data`` took only
    those before ``tn.Generator`` existed).  Anything else, a ``torch.Generator``
    or a seed included, is a TypeError: silently drawing from another stream
    would lose the reproducibility the caller asked for.
    """
    if generator is None:
        return backend.get_rng()
    if isinstance(generator, Generator):
        return generator._rng
    if isinstance(generator, np.random.Generator):
        return generator
    kind = type(generator)
    name = kind.__qualname__ if kind.__module__ == "builtins" else (
        f"{kind.__module__}.{kind.__qualname__}")
    raise TypeError(f"generator should be None (tinynet's global generator, seeded by "
                    f"tn.manual_seed), a tn.Generator (tn.Generator().manual_seed(seed)) or a "
                    f"numpy.random.Generator (np.random.default_rng(seed)), got {name}")


# The state travels as the JSON text of NumPy's ``bit_generator.state`` (a dict of
# Python ints: PCG64's 128-bit state and increment, and a buffered half-draw).  JSON keeps
# the big ints exact, and a uint8 Tensor of its bytes is what torch.Generator.get_state
# returns in kind (PyTorch's own bytes are its Mersenne Twister's, another format).

def _encode_state(rng):
    text = json.dumps(rng.bit_generator.state, sort_keys=True)
    return Tensor._from_array(np.frombuffer(text.encode("ascii"), dtype=np.uint8).copy())


def _restore_state(rng, new_state):
    """Set ``rng``'s state from an ``_encode_state`` Tensor, all or nothing."""
    if not isinstance(new_state, Tensor) or np.dtype(new_state.dtype) != np.uint8:
        got = (f"a Tensor of dtype {new_state.dtype}" if isinstance(new_state, Tensor)
               else type(new_state).__name__)
        raise TypeError(f"set_state: expects the uint8 Tensor that get_state() returns, "
                        f"got {got}")
    raw = backend.to_numpy(new_state.data).tobytes()
    # Decode into a scratch generator first, so that a bad state leaves ``rng`` untouched.
    scratch = type(rng.bit_generator)()
    try:
        scratch.state = json.loads(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError, TypeError, KeyError, OverflowError) as exc:
        raise ValueError(f"set_state: these {len(raw)} bytes are not a state from get_state() "
                         f"of a tinynet generator ({type(exc).__name__}: {exc})") from exc
    rng.bit_generator.state = scratch.state
