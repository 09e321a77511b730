"""The Function contract (see ``tinynet.autograd.Function``), checked on every gradient case.

* backward must not write into the gradients it receives: every GRADCHECK case
  of every test file is run once more with read-only incoming gradients;
* under ``no_grad()`` every ``needs_input_grad`` is False, and no graph is kept.
"""
import numpy as np
import pytest

import tinynet as tn
from tinynet import autograd
from gradcases import build_inputs
from test_gradcheck_coverage import all_cases

def backward_with_read_only_gradients(case):
    """Run the case's backward with read-only incoming gradients; the error text, or None."""
    inputs = build_inputs(case)
    try:
        with autograd.read_only_gradients():
            out = case.fn(*inputs)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            rng = np.random.default_rng(0)
            total = sum((o * tn.tensor(rng.standard_normal(o.shape))).sum()
                        for o in outs if o.requires_grad)
            total.backward()
    except ValueError as exc:
        if "read-only" in str(exc):
            return f"{case.name}: {exc}"
        raise
    return None


def test_no_backward_writes_into_its_incoming_gradients():
    cases = all_cases()
    assert len(cases) > 100
    offenders = [message for message in map(backward_with_read_only_gradients, cases) if message]
    assert not offenders, offenders


def test_read_only_mode_catches_a_backward_that_writes():
    class ScalesInPlace(tn.Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            gy *= 2  # forbidden: gy may be shared with another Function
            return gy

    x = tn.tensor(np.ones(3), requires_grad=True)
    with autograd.read_only_gradients():
        with pytest.raises(ValueError, match="read-only"):
            ScalesInPlace()(x).sum().backward()


def test_needs_input_grad_is_all_false_under_no_grad():
    seen = []

    class Probe(tn.Function):
        def forward(self, x, y):
            seen.append(self.needs_input_grad)
            return x + y

        def backward(self, gy):
            return gy, gy

    x = tn.ones(2, requires_grad=True)
    Probe()(x, tn.ones(2))
    with tn.no_grad():
        out = Probe()(x, tn.ones(2))
    assert seen == [(True, False), (False, False)]
    assert out.grad_fn is None and not out.requires_grad


def test_inference_keeps_nothing_for_backward():
    # Mul saves each input only for the other's gradient: under no_grad nothing.
    from tinynet.ops.math import Mul
    fn = Mul(np.dtype(np.float32))
    x = tn.ones(3, requires_grad=True)
    with tn.no_grad():
        fn(x, x)
    assert fn.a is None and fn.b is None
