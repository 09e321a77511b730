"""Random input arrays for gradient checks: ``make_inputs`` of a GradCase calls these with its rng."""
import numpy as np


def normal(rng, *shape):
    return rng.standard_normal(shape)


def positive(rng, *shape):
    return rng.uniform(0.5, 2.0, shape)


def distinct(rng, *shape):
    """Values with no ties and none at 0 (max/min/abs/clamp have kinks at ties and at 0)."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) - n / 2 + 0.25) / n * 4
