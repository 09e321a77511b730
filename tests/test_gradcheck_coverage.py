"""Meta-test: every Function subclass in tinynet, and every conv2d algorithm, has a gradient check.

The op test files each declare GRADCHECK_CASES (run there with tn.gradcheck);
this file builds every case's graph and collects the Function classes in it.
A new Function that no case exercises makes this test fail, naming it.

conv2d is one Function with several algorithms (``tinynet.ops.conv.ALGORITHMS``);
the algorithm each conv2d node ran is recorded on it (``.algorithm``; under
``use_algorithm("reference")`` the node is reference.py's own Conv2dReference,
whose ``.algorithm`` is "reference"), so the cases must cover each of them,
forward and backward: deleting the rows or the Winograd cases fails this test.
"""
import importlib
import pathlib

import numpy as np

import tinynet  # noqa: F401  (imports every ops module, so all Functions exist)
from tinynet.autograd import Function, Tensor
from tinynet.ops.conv import ALGORITHMS, Conv2dFunction, Conv2dReference

from gradcases import build_inputs, functions_in_graph, graph_nodes

TEST_DIR = pathlib.Path(__file__).parent


def all_function_subclasses():
    found, stack = set(), [Function]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    # Private classes (leading underscore) are abstract bases shared by ops,
    # never called themselves; their subclasses are what must be checked.
    return {c for c in found
            if c.__module__.startswith("tinynet.") and not c.__name__.startswith("_")}


def all_cases():
    cases = []
    for path in sorted(TEST_DIR.glob("test_*.py")):
        module = importlib.import_module(path.stem)
        cases.extend(getattr(module, "GRADCHECK_CASES", []))
    return cases


def test_every_function_has_a_gradcheck_case():
    covered = set()
    for case in all_cases():
        covered |= functions_in_graph(case.fn(*build_inputs(case)))
    missing = sorted(f"{c.__module__}.{c.__name__}" for c in all_function_subclasses() - covered)
    assert not missing, f"Function subclasses without a gradcheck case: {missing}"


def conv2d_algorithms_run_backward(case):
    """The algorithms of the conv2d nodes of ``case`` whose backward ran and reached every input."""
    inputs = build_inputs(case)
    out = case.fn(*inputs)
    algorithms = {fn.algorithm for fn in graph_nodes(out)
                  if isinstance(fn, (Conv2dFunction, Conv2dReference))}
    if not algorithms:
        return set()
    outs = out if isinstance(out, (tuple, list)) else (out,)
    sum(o.sum() for o in outs if o.requires_grad).backward()
    checked = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    if not all(x.grad is not None and np.isfinite(x.grad.numpy()).all() for x in checked):
        return set()
    return algorithms


def test_every_conv2d_algorithm_has_a_gradcheck_case():
    covered = set()
    for case in all_cases():
        covered |= conv2d_algorithms_run_backward(case)
    missing = sorted(set(ALGORITHMS) - covered)
    assert not missing, f"conv2d algorithms without a gradcheck case: {missing}"
