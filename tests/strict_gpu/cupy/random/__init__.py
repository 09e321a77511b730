"""cupy.random of the strict stand-in: NumPy's generators, drawing "on the device".

The draws are NumPy's (a ``RandomState`` for the legacy functions, a
``Generator`` for ``default_rng``), so they differ from a GPU's; what matters
here is that they arrive as device arrays without a host-to-device copy.  Like
CuPy's, the functions take a ``dtype`` (float32 draws are not float64 draws
cast afterwards on a GPU, but here they are).
"""
import numpy as np

from .._namespace import missing, populate
from .._strict import wrap


def _with_dtype(draw):
    def draw_on_device(*args, dtype=None, **kwargs):
        result = np.asarray(draw(*args, **kwargs))
        return wrap(result if dtype is None else result.astype(dtype, copy=False))
    draw_on_device.__name__ = getattr(draw, "__name__", "draw")
    return draw_on_device


class RandomState:
    """cupy.random.RandomState: NumPy's, its draws as device arrays."""

    def __init__(self, seed=None):
        self._numpy = np.random.RandomState(None if seed is None else int(seed) % 2**32)

    def seed(self, seed=None):
        self._numpy.seed(None if seed is None else int(seed) % 2**32)

    def __getattr__(self, name):
        if name.startswith("_") or name not in _DRAWS:
            raise AttributeError(name)
        return _with_dtype(getattr(self._numpy, name))


_DRAWS = {"rand", "randn", "random_sample", "random", "uniform", "normal", "standard_normal",
          "randint", "permutation", "choice", "binomial", "poisson", "exponential", "gamma",
          "beta", "lognormal", "standard_exponential", "standard_gamma", "gumbel", "laplace",
          "logistic", "rayleigh", "multinomial", "geometric", "chisquare", "standard_cauchy",
          "standard_t", "triangular", "weibull", "pareto", "power", "vonmises", "wald", "zipf",
          "f", "hypergeometric", "logseries", "negative_binomial", "noncentral_chisquare",
          "noncentral_f", "dirichlet", "multivariate_normal", "random_integers", "ranf", "sample"}

_state = RandomState()


def get_random_state():
    return _state


def set_random_state(state):
    global _state
    _state = state


def seed(seed=None):
    _state.seed(seed)


def reset_states():
    global _state
    _state = RandomState()


def shuffle(a):
    from .._strict import unwrap
    _state._numpy.shuffle(unwrap(a))


class Generator:
    """cupy.random.Generator (from ``default_rng``): NumPy's Generator, device arrays out."""

    def __init__(self, seed=None):
        self._numpy = np.random.default_rng(seed)

    def random(self, size=None, dtype=np.float64, out=None):
        result = wrap(self._numpy.random(size, dtype=dtype))
        if out is not None:
            out[...] = result
            return out
        return result

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _with_dtype(getattr(self._numpy, name))


def default_rng(seed=None):
    return Generator(seed)


def _module_draw(name):
    def draw(*args, **kwargs):
        return getattr(_state, name)(*args, **kwargs)
    draw.__name__ = name
    return draw


for _name in _DRAWS:
    globals()[_name] = _module_draw(_name)
for _name in ("BitGenerator", "MRG32k3a", "Philox4x3210", "XORWOW", "bytes"):
    globals()[_name] = missing(f"cupy.random.{_name}")
populate(globals(), "cupy.random", np.random, "cupy.random")
