"""grid_sample and affine_grid (tinynet/ops/grid_sample.py): gradient checks, parity with
PyTorch (values, input, grid and theta gradients), a spatial transformer and a 3-D
displacement-field warp as registration code writes them, and errors."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn.functional as F
from gradcases import GradCase, run_case
from torch_parity import assert_same


def inputs_and_grid(shape, grid_shape, spread=1.1):
    def make(rng):
        return [rng.standard_normal(shape), rng.uniform(-spread, spread, grid_shape)]
    return make


GRADCHECK_CASES = [
    GradCase("grid_sample_bilinear_zeros", lambda x, g: F.grid_sample(x, g),
             inputs_and_grid((1, 2, 3, 4), (1, 2, 3, 2))),
    GradCase("grid_sample_bilinear_border_align_corners",
             lambda x, g: F.grid_sample(x, g, padding_mode="border", align_corners=True),
             inputs_and_grid((1, 2, 3, 4), (1, 3, 2, 2), spread=1.3)),
    GradCase("grid_sample_trilinear", lambda x, g: F.grid_sample(x, g, align_corners=True),
             inputs_and_grid((1, 1, 3, 3, 4), (1, 2, 2, 2, 3))),
    GradCase("affine_grid_then_sample",
             lambda x, theta: F.grid_sample(x, F.affine_grid(theta, (1, 2, 3, 4))),
             lambda rng: [rng.standard_normal((1, 2, 3, 4)),
                          np.array([[[0.9, 0.2, 0.1], [-0.15, 1.1, -0.05]]])]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("shape, grid_shape", [((2, 3, 5, 6), (2, 4, 7, 2)),
                                               ((2, 3, 4, 5, 6), (2, 3, 4, 5, 3))])
def test_grid_sample_matches_pytorch(torch, mode, padding_mode, align_corners, shape,
                                     grid_shape):
    rng = np.random.default_rng(0)
    x, grid = rng.standard_normal(shape), rng.uniform(-1.2, 1.2, grid_shape)
    g = rng.standard_normal(grid_shape[:1] + shape[1:2] + grid_shape[1:-1])
    results = []
    for lib in (tn, torch):
        xt, gt = lib.tensor(x, requires_grad=True), lib.tensor(grid, requires_grad=True)
        y = lib.nn.functional.grid_sample(xt, gt, mode=mode, padding_mode=padding_mode,
                                          align_corners=align_corners)
        y.backward(lib.tensor(g))
        grid_grad = gt.grad if mode == "bilinear" else None      # nearest: no grid gradient
        results.append([y, xt.grad] + ([grid_grad] if grid_grad is not None else []))
    assert_same(results[0], results[1], rtol=1e-10, atol=1e-12, where="grid_sample")


@pytest.mark.parametrize("size", [(2, 3, 5, 6), (2, 3, 4, 5, 6), (1, 1, 1, 7)])
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_matches_pytorch(torch, size, align_corners):
    dims = len(size) - 2
    theta = np.random.default_rng(0).standard_normal((size[0], dims, dims + 1))
    g = np.random.default_rng(1).standard_normal((size[0],) + size[2:] + (dims,))
    results = []
    for lib in (tn, torch):
        t = lib.tensor(theta, requires_grad=True)
        grid = lib.nn.functional.affine_grid(t, size, align_corners=align_corners)
        grid.backward(lib.tensor(g))
        results.append([grid, t.grad])
    assert_same(results[0], results[1], rtol=1e-10, atol=1e-12, where="affine_grid")


def spatial_transformer_step(lib):
    """A spatial transformer (Jaderberg et al. 2015): a localisation net predicts theta,
    affine_grid + grid_sample warp the input, then a classifier; one SGD step."""
    nn = lib.nn

    class STN(nn.Module):
        def __init__(self):
            super().__init__()
            self.localisation = nn.Sequential(nn.Flatten(), nn.Linear(64, 6))
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))

        def forward(self, x):
            theta = self.localisation(x).view(-1, 2, 3)
            grid = nn.functional.affine_grid(theta, x.size(), align_corners=False)
            return self.classifier(nn.functional.grid_sample(x, grid, align_corners=False))

    model = STN()
    rng = np.random.default_rng(0)
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(rng.uniform(-0.2, 0.2, tuple(p.shape)).astype(np.float32)))
        model.localisation[1].bias.copy_(lib.tensor(np.array([1, 0, 0, 0, 1, 0], np.float32)))
    optimizer = lib.optim.SGD(model.parameters(), lr=0.1)
    x = lib.tensor(rng.standard_normal((4, 1, 8, 8)).astype(np.float32))
    loss = lib.nn.functional.cross_entropy(model(x), lib.tensor(np.array([0, 1, 2, 1])))
    loss.backward()
    optimizer.step()
    return [loss, model.localisation[1].weight.grad, model(x)]


def test_a_spatial_transformer_trains_like_pytorch(torch):
    assert_same(spatial_transformer_step(tn), spatial_transformer_step(torch), rtol=1e-4,
                atol=1e-5, where="spatial transformer")


def warp_volume(lib, moving, flow):
    """VoxelMorph's spatial transformer: sample the moving volume at identity + flow (voxels)."""
    size = moving.shape[2:]
    vectors = [lib.arange(0, s, dtype=moving.dtype) for s in size]
    grid = lib.stack(lib.meshgrid(*vectors, indexing="ij")).unsqueeze(0)   # (1, 3, D, H, W)
    locations = grid + flow
    for i, s in enumerate(size):                  # to [-1, 1], align_corners=True
        locations[:, i] = 2 * (locations[:, i] / (s - 1) - 0.5)
    locations = locations.permute(0, 2, 3, 4, 1)[..., [2, 1, 0]]      # (x, y, z) order
    return lib.nn.functional.grid_sample(moving, locations, align_corners=True,
                                         mode="bilinear")


def test_a_displacement_field_warps_a_volume_like_pytorch(torch):
    rng = np.random.default_rng(0)
    moving, flow = rng.standard_normal((1, 1, 4, 5, 6)), rng.normal(0, 0.8, (1, 3, 4, 5, 6))
    results = []
    for lib in (tn, torch):
        m, f = lib.tensor(moving, requires_grad=True), lib.tensor(flow, requires_grad=True)
        warped = warp_volume(lib, m, f)
        (warped ** 2).sum().backward()
        results.append([warped, m.grad, f.grad])
    assert_same(results[0], results[1], rtol=1e-10, atol=1e-12, where="VoxelMorph warp")


def test_the_identity_grid_returns_the_input():
    x = tn.tensor(np.random.default_rng(0).standard_normal((2, 3, 5, 7)))
    theta = tn.tensor(np.tile(np.eye(2, 3), (2, 1, 1)))
    for align_corners in (False, True):
        grid = F.affine_grid(theta, x.shape, align_corners=align_corners)
        out = F.grid_sample(x, grid, align_corners=align_corners)
        np.testing.assert_allclose(out.numpy(), x.numpy(), atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: F.grid_sample(tn.zeros(1, 1, 4, 4), tn.zeros(1, 2, 2, 3)),
     r"grid_sample: grid must be \(N, H_out, W_out, 2\) for input of shape \(1, 1, 4, 4\), "
     r"got \(1, 2, 2, 3\)"),
    (lambda: F.grid_sample(tn.zeros(1, 4, 4), tn.zeros(1, 2, 2)),
     r"grid_sample: expected input \(N, C, H, W\) or \(N, C, D, H, W\), got shape \(1, 4, 4\)"),
    (lambda: F.grid_sample(tn.zeros(1, 1, 4, 4), tn.zeros(1, 2, 2, 2), mode="bicubic"),
     r"grid_sample: mode must be one of .* \(bicubic is not supported\), got 'bicubic'"),
    (lambda: F.grid_sample(tn.zeros(1, 1, 4, 4), tn.zeros(1, 2, 2, 2),
                           padding_mode="reflection"),
     r"padding_mode must be one of .* got 'reflection'"),
    (lambda: F.affine_grid(tn.zeros(1, 2, 3), (1, 1, 4, 4, 4)),
     r"affine_grid: expected theta \(N, 2, 3\) with size \(N, C, H, W\), or theta \(N, 3, 4\)"),
])
def test_errors_name_the_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()
