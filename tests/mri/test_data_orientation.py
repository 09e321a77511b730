"""tinynet.mri.data.orientation: AxialView finds the axial slices in any voxel order (permuted,
flipped, oblique), gives the spacing along them, and from_axial undoes to_axial exactly."""
import numpy as np
import pytest

from niftihelpers import ORDERS, SPACING, axial_affine, reorder
from tinynet.mri.data import DataError
from tinynet.mri.data.orientation import AxialView


def voxel_indices(shape):
    """(X, Y, Z, 3) array whose entry at (i, j, k) is (i, j, k): where each voxel came from."""
    return np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)


def world_steps(view, affine, shape):
    """The world-space step (mm) of one voxel along each axial axis of a volume of ``shape``."""
    axial = view.to_axial(voxel_indices(shape))          # axial position -> voxel index
    origin = np.append(axial[0, 0, 0], 1.0)
    steps = []
    for axis in range(3):
        neighbour = np.append(axial[tuple(1 if a == axis else 0 for a in range(3))], 1.0)
        steps.append((affine @ neighbour - affine @ origin)[:3])
    return np.array(steps)


@pytest.mark.parametrize("axes, flips", ORDERS)
def test_storage_orders_give_back_the_axial_stack(axes, flips, rng):
    axial = rng.integers(0, 256, (5, 7, 6, 3), dtype=np.uint8)
    voxels, affine = reorder(axial, axial_affine(), axes, flips)
    view = AxialView(affine)
    np.testing.assert_array_equal(view.to_axial(voxels), axial)
    np.testing.assert_array_equal(view.from_axial(view.to_axial(voxels)), voxels)
    assert view.axial_shape(voxels.shape[:3]) == axial.shape[:3]
    assert view.spacing == pytest.approx(SPACING)


def test_axial_axes_run_up_back_and_to_the_left():
    """Whatever the affine, axial axis 0 steps to +S, axis 1 to -A (back), axis 2 to -R (the
    patient's left), each by its own spacing: checked in world coordinates."""
    for affine, expected_codes in ((np.diag([2.0, 3.0, 4.0, 1.0]), "RAS"),
                                   (np.diag([-2.0, 3.0, -4.0, 1.0]), "LAI")):
        shape = (4, 5, 6)
        view = AxialView(affine)
        steps = world_steps(view, affine, shape)
        np.testing.assert_allclose(steps, [[0, 0, 4], [0, -3, 0], [-2, 0, 0]])
        assert view.spacing == (4.0, 3.0, 2.0) and view.codes == expected_codes


def test_an_oblique_scan_uses_its_closest_axes():
    """A scan tilted by 20 degrees about the R axis: slices still go (mostly) up."""
    angle = np.deg2rad(20)
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)],
                         [0, np.sin(angle), np.cos(angle)]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.9, 0.9, 3.3])
    view = AxialView(affine)
    steps = world_steps(view, affine, (3, 4, 5))
    assert np.argmax(np.abs(steps[0])) == 2 and steps[0][2] > 0     # up
    assert np.argmax(np.abs(steps[1])) == 1 and steps[1][1] < 0     # back
    assert np.argmax(np.abs(steps[2])) == 0 and steps[2][0] < 0     # left
    assert view.spacing == pytest.approx((3.3, 0.9, 0.9))


def test_a_singular_affine_is_refused():
    affine = np.diag([1.0, 1.0, 0.0, 1.0])
    with pytest.raises(DataError, match="singular"):
        AxialView(affine)
    with pytest.raises(DataError, match="4x4"):
        AxialView(np.eye(3))
