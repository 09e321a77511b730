"""Meta-test: every Function subclass in tinynet has a gradient check.

The op test files each declare GRADCHECK_CASES (run there with tn.gradcheck);
this file builds every case's graph and collects the Function classes in it.
A new Function that no case exercises makes this test fail, naming it.
"""
import importlib
import pathlib

import tinynet  # noqa: F401  (imports every ops module, so all Functions exist)
from tinynet.autograd import Function

from gradcases import build_inputs, functions_in_graph

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
    return {c for c in found if c.__module__.startswith("tinynet.") and not c.__name__.startswith("_")}


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
