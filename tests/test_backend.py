"""tinynet.backend.is_array: the one test for "a NumPy or CuPy array" used across tinynet."""
import numpy as np

import tinynet as tn
from tinynet import backend


class FakeGpuArray:
    """Looks like a CuPy array made before tinynet imported CuPy."""
    __cuda_array_interface__ = {"shape": (2,), "typestr": "<f4", "data": (0, False), "version": 3}
    shape, dtype = (2,), np.dtype(np.float32)

    def get(self):
        return np.zeros(2, np.float32)


def test_is_array():
    assert backend.is_array(np.zeros(3))
    assert backend.is_array(np.zeros((2, 0)))
    assert backend.is_array(FakeGpuArray())
    for not_an_array in (np.float32(1.0), 1.0, [1.0, 2.0], None, tn.tensor(np.zeros(3))):
        assert not backend.is_array(not_an_array), repr(not_an_array)
