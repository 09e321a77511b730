"""tinynet.gradcheck's random-direction path (inputs over max_elements) catches wrong gradients."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.autograd import Function


class Cube(Function):
    """y = x**3 with a backward that can be made wrong on purpose: ``error(x, dx) -> dx``."""

    def __init__(self, error=None):
        self.error = error

    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, gy):
        dx = 3 * self.x ** 2 * gy
        return dx if self.error is None else self.error(self.x, dx)


def one_element_off(x, dx):
    dx = dx.copy()
    dx[7, 3] += 1.0
    return dx


def check(error, **kwargs):
    x = tn.tensor(np.random.default_rng(0).standard_normal((20, 20)), requires_grad=True)
    return tn.gradcheck(lambda t: Cube(error)(t), [x], **kwargs)


def test_random_directions_pass_a_correct_gradient():
    assert check(None)


@pytest.mark.parametrize("error,what", [
    (one_element_off, "one element off by 1"),
    (lambda x, dx: dx * 1.01, "scaled by 1.01"),
    (lambda x, dx: dx.T, "transposed"),
    (lambda x, dx: np.zeros_like(dx), "zero"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_random_directions_catch_a_wrong_gradient(error, what):
    with pytest.raises(tn.GradcheckError, match=r"input 0 \(shape \(20, 20\)\) at random "
                                                r"direction \d: analytic"):
        check(error)


def test_one_direction_is_enough_for_a_gross_error():
    """400 elements > max_elements=64: no element-by-element check, yet one direction fails."""
    with pytest.raises(tn.GradcheckError, match="random direction 0"):
        check(lambda x, dx: dx + 1.0, n_directions=1)


def test_small_inputs_are_checked_element_by_element():
    x = tn.tensor(np.random.default_rng(0).standard_normal((4, 4)), requires_grad=True)

    def off_at_2_1(x, dx):
        dx = dx.copy()
        dx[2, 1] += 1.0
        return dx
    with pytest.raises(tn.GradcheckError, match=r"at element \(2, 1\)"):
        tn.gradcheck(lambda t: Cube(off_at_2_1)(t), [x])
