"""tinynet.backend.manual_seed reaches CuPy's generator even when CuPy is imported after it (the
usual order)."""
import sys
import types

import tinynet as tn
from tinynet import backend


def fake_cupy(seeds):
    module = types.ModuleType("cupy")
    module.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    module.random = types.SimpleNamespace(seed=seeds.append)
    module.ndarray = type("ndarray", (), {})
    return module


def test_seed_set_before_cupy_is_imported_is_applied_on_import(monkeypatch):
    seeds = []
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(seeds))
    monkeypatch.setattr(backend, "_cupy", None)
    tn.manual_seed(1234)
    assert seeds == []                   # CuPy not imported yet
    backend.xp_for_device("gpu")         # first GPU use imports it
    assert seeds == [1234]
    tn.manual_seed(7)                    # once imported, seeded at once
    assert seeds == [1234, 7]
