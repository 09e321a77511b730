"""Matrix functions (tinynet/ops/matrix.py, as tn.linalg): gradient checks of every Function,
parity with torch.linalg (values and gradients, batched), errors."""
import numpy as np
import pytest

import tinynet as tn
from gradcases import GradCase, run_case
from torch_parity import assert_same


def square(rng, *batch, n=3):
    return rng.standard_normal(batch + (n, n)) + 2 * np.eye(n)     # well conditioned


def spd(lib, a):
    """A symmetric positive-definite matrix built from ``a`` (so a gradient check through it
    perturbs both triangles alike)."""
    n = a.shape[-1]
    return a @ a.transpose(-1, -2) + n * lib.eye(n, dtype=a.dtype, device=a.device)


def signed_eigenvectors(lib, w_v):
    """eigh's vectors with the sign of each column fixed (its first entry positive): the
    sign is arbitrary, so PyTorch and tinynet may pick either."""
    w, v = w_v
    return w, v * lib.sign(v[..., :1, :])


GRADCHECK_CASES = [
    GradCase("inverse", tn.linalg.inv, lambda r: [square(r, 2)]),
    GradCase("det", tn.linalg.det, lambda r: [square(r, 2)]),
    GradCase("slogdet", lambda a: tn.linalg.slogdet(a)[1], lambda r: [square(r, 2)]),
    GradCase("solve_matrix_and_vector", lambda a, b, c: tn.linalg.solve(a, b).sum()
             + tn.linalg.solve(a, c).sum(),
             lambda r: [square(r, 2), r.standard_normal((2, 3, 2)), r.standard_normal((2, 3))]),
    GradCase("cholesky", lambda a: tn.linalg.cholesky(spd(tn, a)), lambda r: [square(r, 2)]),
    GradCase("eigh", lambda a: signed_eigenvectors(tn, tn.linalg.eigh(spd(tn, a))),
             lambda r: [square(r, 2)]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


CASES = {
    "inv": (lambda lib, a: lib.linalg.inv(a), 1),
    "inverse": (lambda lib, a: lib.inverse(a), 1),
    "det": (lambda lib, a: lib.linalg.det(a), 1),
    "slogdet": (lambda lib, a: list(lib.linalg.slogdet(a)), 1),
    "logdet": (lambda lib, a: lib.logdet(spd(lib, a)), 1),
    "solve": (lambda lib, a, b: lib.linalg.solve(a, b), 2),
    "solve_vector": (lambda lib, a, b: lib.linalg.solve(a, b[..., 0]), 2),
    "cholesky": (lambda lib, a: lib.linalg.cholesky(spd(lib, a)), 1),
    "cholesky_upper": (lambda lib, a: lib.linalg.cholesky(spd(lib, a), upper=True), 1),
    "eigh": (lambda lib, a: list(signed_eigenvectors(lib, lib.linalg.eigh(spd(lib, a)))), 1),
    "eigvalsh_upper": (lambda lib, a: lib.linalg.eigvalsh(spd(lib, a), UPLO="U"), 1),
    "matrix_norm": (lambda lib, a: lib.linalg.matrix_norm(a), 1),
    "norm_fro": (lambda lib, a: lib.linalg.norm(a, "fro", dim=(-2, -1)), 1),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch_linalg(torch, name):
    fn, n_inputs = CASES[name]
    rng = np.random.default_rng(0)
    arrays = [square(rng, 3, 2, n=4), rng.standard_normal((3, 2, 4, 2))][:n_inputs]
    results = []
    for lib in (tn, torch):
        inputs = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = fn(lib, *inputs)
        outs = out if isinstance(out, list) else [out]
        loss = sum((o * lib.tensor(np.random.default_rng(i + 1).standard_normal(
            tuple(o.shape)))).sum() for i, o in enumerate(outs) if o.requires_grad)
        loss.backward()
        results.append(outs + [x.grad for x in inputs])
    assert_same(results[0], results[1], rtol=1e-9, atol=1e-11, where=name)


def test_a_gaussian_log_likelihood_through_cholesky_matches_torch(torch):
    """The everyday use: -log N(y; 0, K) = 1/2 y^T K^-1 y + log det L + n/2 log 2 pi."""
    rng = np.random.default_rng(0)
    a, y = rng.standard_normal((5, 5)), rng.standard_normal(5)
    results = []
    for lib in (tn, torch):
        at = lib.tensor(a, requires_grad=True)
        k = spd(lib, at)
        l = lib.linalg.cholesky(k)
        alpha = lib.linalg.solve(k, lib.tensor(y))
        nll = 0.5 * (lib.tensor(y) * alpha).sum() + lib.log(lib.diagonal(l)).sum()
        nll.backward()
        results.append([nll, at.grad])
    assert_same(results[0], results[1], rtol=1e-10, atol=1e-12, where="GP likelihood")


@pytest.mark.parametrize("call, error, message", [
    (lambda: tn.linalg.inv(tn.zeros(2, 3)), ValueError,
     r"inverse: expected square matrices \(..., n, n\), got shape \(2, 3\)"),
    (lambda: tn.linalg.det(tn.zeros(2, 2, dtype=tn.int64)), TypeError,
     "det: expected a floating-point matrix, got dtype int64"),
    (lambda: tn.linalg.cholesky(tn.tensor([[1.0, 2.0], [2.0, 1.0]])), ValueError,
     "cholesky: the input is not positive-definite"),
    (lambda: tn.linalg.solve(tn.eye(3), tn.zeros(2, 1)), ValueError,
     r"solve: A of shape \(3, 3\) and B of shape \(2, 1\) do not match"),
    (lambda: tn.linalg.eigh(tn.eye(2), UPLO="X"), ValueError, "eigh: UPLO must be 'L' or 'U'"),
    (lambda: tn.linalg.matrix_norm(tn.eye(2), "nuc"), NotImplementedError,
     "only ord='fro' is in tinynet"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
