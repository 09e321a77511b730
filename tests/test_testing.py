"""tinynet/testing.py, assert_close: passes and fails where torch.testing.assert_close does,
with PyTorch's default tolerances by dtype, and says where the values differ."""
import numpy as np
import pytest

import tinynet as tn

CASES = {   # name: (actual, expected, keyword arguments) as NumPy values
    "equal": (np.ones(3, np.float32), np.ones(3, np.float32), {}),
    "float32_within_default": (np.float32([1, 2]), np.float32([1, 2]) + 1e-6, {}),
    "float32_beyond_default": (np.float32([1, 2]), np.float32([1, 2.001]), {}),
    "float64_beyond_default": (np.array([1.0]), np.array([1.0 + 1e-6]), {}),
    "float16_within_default": (np.float16([1.0]), np.float16([1.0009765625]), {}),
    "explicit_tolerances": (np.float32([1, 2]), np.float32([1, 2.001]),
                            {"rtol": 1e-3, "atol": 0.0}),
    "integers_exact": (np.array([1, 2]), np.array([1, 3]), {}),
    "nan_unequal": (np.array([np.nan]), np.array([np.nan]), {}),
    "nan_equal": (np.array([np.nan]), np.array([np.nan]), {"equal_nan": True}),
    "infinities": (np.array([np.inf, -np.inf]), np.array([np.inf, -np.inf]), {}),
    "dtypes_differ": (np.float32([1.0]), np.array([1.0]), {}),
    "dtypes_ignored": (np.float32([1.0]), np.array([1.0]), {"check_dtype": False}),
    "shapes_differ": (np.zeros((2, 1)), np.zeros(2), {}),
}


def passes(check, actual, expected, kwargs):
    try:
        check(actual, expected, **kwargs)
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(CASES))
def test_agrees_with_torch(torch, name):
    actual, expected, kwargs = CASES[name]
    theirs = passes(torch.testing.assert_close, torch.tensor(actual), torch.tensor(expected),
                    kwargs)
    ours = passes(tn.testing.assert_close, tn.tensor(actual), tn.tensor(expected), kwargs)
    assert ours == theirs


def test_the_message_names_the_worst_element_and_the_tolerances():
    with pytest.raises(AssertionError) as raised:
        tn.testing.assert_close(tn.zeros(2, 3), tn.tensor(np.float32([[0, 0, 0], [0, 0.5, 0]])))
    text = str(raised.value)
    assert "Mismatched elements: 1 / 6 (16.7%)" in text
    assert "Greatest absolute difference: 0.5 at index (1, 1) (up to 1e-05 allowed)" in text
    with pytest.raises(AssertionError, match="^custom$"):
        tn.testing.assert_close(tn.zeros(1), tn.ones(1), msg="custom")


def test_containers_are_compared_item_by_item():
    tn.testing.assert_close({"a": [tn.ones(2), 1.0]}, {"a": [tn.ones(2), 1.0]})
    with pytest.raises(AssertionError, match=r"Tensor-likes are not close\['a'\]\[1\]!"):
        tn.testing.assert_close({"a": [tn.ones(2), 1.0]}, {"a": [tn.ones(2), 2.0]})
    with pytest.raises(AssertionError, match="The keys differ"):
        tn.testing.assert_close({"a": 1.0}, {"b": 1.0})
    with pytest.raises(ValueError, match="give both rtol and atol, or neither"):
        tn.testing.assert_close(tn.ones(1), tn.ones(1), rtol=1e-3)
