"""Shared machinery for gradient-check tests.

Each op test file declares ``GRADCHECK_CASES``, a list of ``GradCase``; the
file runs ``tn.gradcheck`` on every case (``run_case``), and
``test_gradcheck_coverage.py`` imports all the lists, builds each case's graph
and fails if some ``Function`` subclass of tinynet appears in none of them.
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import tinynet as tn
from tinynet.autograd import Function


@dataclass
class GradCase:
    """A gradient check: ``fn(*inputs)`` with inputs from ``make_inputs(rng)``.

    ``make_inputs`` returns a list; float ndarrays become float64 Tensors that
    require grad, anything else (an int array of labels, a Tensor, None) is
    passed as it is, without a gradient check.
    """
    name: str
    fn: Callable
    make_inputs: Callable
    tolerances: dict = field(default_factory=dict)  # eps / atol / rtol overrides

    def __str__(self):
        return self.name


def build_inputs(case, seed=0):
    rng = np.random.default_rng(seed)
    inputs = []
    for x in case.make_inputs(rng):
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            x = tn.tensor(x.astype(np.float64), requires_grad=True)
        elif isinstance(x, np.ndarray):
            x = tn.tensor(x)
        inputs.append(x)
    return inputs


def run_case(case):
    assert tn.gradcheck(case.fn, build_inputs(case), **case.tolerances)


def _producers(fn):
    """The Functions whose outputs ``fn`` consumed (through its graph edges)."""
    if hasattr(fn, "edges"):
        return [e.node for e in fn.edges if e is not None and isinstance(e.node, Function)]
    return [x.grad_fn for x in fn.inputs if x is not None and x.grad_fn is not None]


def graph_nodes(outputs):
    """The Function objects of the graph that produced ``outputs``."""
    outs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
    seen, stack = set(), [o.grad_fn for o in outs if o.grad_fn]
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        stack.extend(_producers(fn))
    return seen


def functions_in_graph(outputs):
    """The set of Function classes in the graph that produced ``outputs``."""
    return {type(fn) for fn in graph_nodes(outputs)}


def forced_conv2d(algorithm, **kwargs):
    """conv2d(x, w, b) through ``algorithm``, forced with the documented switch."""
    def conv(x, w, b):
        with tn.ops.conv.use_algorithm(algorithm):
            return tn.ops.conv2d(x, w, b, **kwargs)
    return conv


def conv_grad_case(algorithm, name, x_shape, w_shape, bias=True, **kwargs):
    """A GradCase of conv2d through ``algorithm``, with random x, weight and bias."""
    def make(r):
        return [r.standard_normal(x_shape), r.standard_normal(w_shape),
                r.standard_normal(w_shape[0]) if bias else None]
    return GradCase(name, forced_conv2d(algorithm, **kwargs), make)
