"""Numerical gradient checking: compare backward() with central differences.

For a function ``f`` of tensors, pick a fixed random array ``R`` of the output's
shape and check the scalar ``L(x) = sum(f(x) * R)``.  Its gradient by backward
is ``g = dL/dx``; numerically, along a direction ``d``,

    (L(x + eps*d) - L(x - eps*d)) / (2*eps)  ~=  <g, d>     (error O(eps^2))

* small inputs (at most ``max_elements`` values) are checked element by element
  (``d`` = each unit vector), so a failure names the exact element;
* large inputs are checked along ``n_directions`` random directions, which costs
  two forward passes per direction instead of two per element.

Always run it in float64: in float32 the rounding error of the difference
quotient (~1e-7 / eps) swamps the truncation error.
"""
import numpy as np

from . import backend
from .autograd import Tensor, no_grad


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with the numerical one."""


def _scalar_loss(fn, inputs, weights):
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    total = 0.0
    for o, w in zip(outs, weights):
        total += float((o.data * w).sum())
    return total


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, max_elements=64,
              n_directions=8, seed=0):
    """Check the gradients of ``fn(*inputs)`` for every input that requires grad.

    Parameters
    ----------
    fn : callable
        Takes the tensors in ``inputs`` and returns a Tensor (or a tuple of Tensors).
    inputs : sequence of Tensor
        Inputs with ``requires_grad=True`` are checked; they must be float64.
    eps, atol, rtol : float
        Step of the central difference; pass if ``|analytic - numeric| <=
        atol + rtol * |numeric|`` for every checked element or direction.
    max_elements : int
        An input of at most this many values is checked element by element;
        a larger one along ``n_directions`` random directions.
    seed : int
        Seeds the random weights ``R`` and the directions, so a run repeats.

    Returns True, or raises GradcheckError naming the input, the worst element
    (or direction) and the analytic and numeric values.
    """
    inputs = list(inputs)
    checked = _checked_inputs(inputs)
    rng = np.random.default_rng(seed)
    weights, analytic = _analytic_gradients(fn, inputs, checked, rng)

    def numeric(i, direction):
        """(L(x + eps d) - L(x - eps d)) / (2 eps) for input i moved along ``direction``."""
        x = inputs[i]
        original = x.data
        d = backend.to_device(direction, x.device)
        with no_grad():
            x.data = original + eps * d
            plus = _scalar_loss(fn, inputs, weights)
            x.data = original - eps * d
            minus = _scalar_loss(fn, inputs, weights)
        x.data = original
        return (plus - minus) / (2 * eps)

    for i in checked:
        x, g = inputs[i], analytic[i]
        if x.numel() <= max_elements:
            probes = _unit_directions(x.shape)
        else:
            probes = ((f"random direction {k}", rng.standard_normal(x.shape))
                      for k in range(n_directions))
        worst = None   # (excess over the tolerance, where, analytic, numeric)
        for where, d in probes:
            a, n = float((g * d).sum()), numeric(i, d)
            excess = abs(a - n) - (atol + rtol * abs(n))
            if worst is None or excess > worst[0]:
                worst = (excess, where, a, n)
        if worst[0] > 0:
            _, where, a, n = worst
            raise GradcheckError(
                f"gradcheck failed for input {i} (shape {x.shape}) at {where}: "
                f"analytic {a:.8g} vs numeric {n:.8g} "
                f"(|diff| {abs(a - n):.3g} > atol {atol} + rtol {rtol} * |numeric|)")
    return True


def _checked_inputs(inputs):
    """The indices of the inputs to check: Tensors that require grad, all float64."""
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; use float64 "
                            "(float32 rounding makes numerical gradients meaningless)")
    return checked


def _analytic_gradients(fn, inputs, checked, rng):
    """The weights R (one array per output) and {i: dL/dx_i} by backward, L = sum(f(x) * R)."""
    for i in checked:
        inputs[i].grad = None
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    xp = backend.get_array_module(outs[0].data)
    weights = [xp.asarray(rng.standard_normal(o.shape)) for o in outs]
    total = sum((o * Tensor(w)).sum() for o, w in zip(outs, weights) if o.requires_grad)
    if not isinstance(total, Tensor):
        raise GradcheckError("gradcheck: the output does not depend on any checked input")
    total.backward()
    analytic = {}
    for i in checked:
        g = inputs[i].grad
        analytic[i] = backend.to_numpy(g.data) if g is not None else np.zeros(inputs[i].shape)
    return weights, analytic


def _unit_directions(shape):
    """("element (k, ...)", the unit array at k) for every element of an array of ``shape``."""
    for flat in range(int(np.prod(shape))):
        d = np.zeros(shape)
        d.reshape(-1)[flat] = 1.0
        yield f"element {tuple(int(k) for k in np.unravel_index(flat, shape))}", d
