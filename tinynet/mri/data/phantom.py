"""A synthetic brain-MRI phantom: kaggle_3m-like slices with known tumour masks.

``make_phantom()`` is the data the examples and tests use when the real
LGG data is not at hand.  Each phantom patient is a small 3-D volume cut into
axial slices, so neighbouring slices look alike, as in a real scan:

- an elliptical head that is widest in the middle slices, with a bright
  skull ring, a dark rim of cerebrospinal fluid (CSF) and two dark
  ventricles near the centre of the middle slices;
- brain tissue with a smooth texture (Gaussian-filtered 3-D noise);
- a tumour made of 1-3 overlapping ellipsoid lobes with a noisy boundary:
  in the slice stack it appears, grows and shrinks again; roughly a third
  of the slices (those outside the tumour's extent) are tumour-free;
- three channels with the contrasts of kaggle_3m (pre-contrast T1, FLAIR,
  post-contrast T1): CSF is dark on all three, the skull and scalp bright;
  the tumour is clearly bright on FLAIR, slightly dark on pre-contrast and
  at most slightly brighter on post-contrast (lower-grade gliomas rarely
  enhance), with a contrast that differs between patients;
- a per-patient intensity gain (scanners differ) and pixel noise.

Patients are named ``PHANTOM_<site>_<nnnn>`` with four sites P1..P4 (patient
k belongs to site P(k mod 4 + 1)), so ``institution_of`` and stratified
splits work on them.  Patient k is drawn from ``np.random.default_rng([seed, k])``:
it is the same whatever ``n_patients`` is.  All lengths below are in units
of half the image side, so every ``size`` shows the same anatomy.
"""
import numpy as np
from scipy import ndimage

from .dataset import SliceDataset
from ._checks import check_whole_number

__all__ = ["make_phantom", "PHANTOM_SITES"]

PHANTOM_SITES = ("P1", "P2", "P3", "P4")

# Mean intensities (pre-contrast, FLAIR, post-contrast), 0-255, of each region:
# row 0 background, 1 brain tissue, 2 skull and scalp, 3 cerebrospinal fluid.
_BACKGROUND, _BRAIN, _SKULL, _CSF = range(4)
_PALETTE = np.array([[0.0, 0.0, 0.0], [118.0, 100.0, 122.0], [205.0, 150.0, 212.0],
                     [40.0, 30.0, 45.0]], dtype=np.float32)
_TISSUE_TEXTURE = np.array([12.0, 10.0, 12.0], dtype=np.float32)  # amplitude of the texture
_NOISE_SIGMA = 4.0
_SKULL_THICKNESS = 0.07
_CSF_RIM = 0.03


def make_phantom(n_patients=16, slices_per_patient=24, size=128, seed=0):
    """A SliceDataset of ``n_patients * slices_per_patient`` synthetic slices (in memory).

    Images uint8 (N, size, size, 3), masks uint8 (N, size, size) with values
    0/1; slice z of a patient is named ``<patient>_<z + 1>`` like kaggle_3m.
    """
    n_patients = check_whole_number(n_patients, "n_patients", 1, "make_phantom")
    slices_per_patient = check_whole_number(slices_per_patient, "slices_per_patient", 1,
                                            "make_phantom")
    size = check_whole_number(size, "size", 16, "make_phantom")
    n = n_patients * slices_per_patient
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    masks = np.empty((n, size, size), dtype=np.uint8)
    patient_of, names = [], []
    for k in range(n_patients):
        patient = f"PHANTOM_{PHANTOM_SITES[k % len(PHANTOM_SITES)]}_{k:04d}"
        rows = slice(k * slices_per_patient, (k + 1) * slices_per_patient)
        images[rows], masks[rows] = _phantom_volume(np.random.default_rng([seed, k]),
                                                    slices_per_patient, size)
        patient_of += [patient] * slices_per_patient
        names += [f"{patient}_{z + 1}" for z in range(slices_per_patient)]
    return SliceDataset.from_arrays(images, masks, patient_of, names, image_size=size)


def _smooth_noise(rng, shape, sigma):
    """Gaussian-filtered white noise rescaled to mean 0, std 1 (a smooth random field)."""
    # truncate=3: the kernel's tails beyond 3 sigma change nothing visible and cost time.
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma,
                                    truncate=3.0)
    return (field - field.mean()) / field.std()


def _phantom_volume(rng, n_slices, size):
    """One patient: images uint8 (S, size, size, 3) and masks uint8 (S, size, size)."""
    # Slice position t in (-1, 1) and pixel centres y, x in (-1, 1).
    t = ((np.arange(n_slices) + 0.5) / n_slices * 2 - 1).astype(np.float32)[:, None, None]
    u = ((np.arange(size) + 0.5) / size * 2 - 1).astype(np.float32)
    y, x = u[None, :, None], u[None, None, :]
    head = _head_radius(rng, t, y, x)
    brain = head <= 1 - _SKULL_THICKNESS - _CSF_RIM
    skull = (head > 1 - _SKULL_THICKNESS) & (head <= 1)
    csf = (~brain & (head <= 1) & ~skull) | (_ventricles(rng, t, y, x) & brain)
    brain &= ~csf
    tumour = _tumour(rng, t, y, x, size) & brain

    region = np.full(head.shape, _BACKGROUND, dtype=np.uint8)
    region[brain], region[skull], region[csf] = _BRAIN, _SKULL, _CSF
    pixel = size / 2  # pixels per unit length
    texture = _smooth_noise(rng, head.shape, (0.8, 0.05 * pixel, 0.05 * pixel))
    image = _PALETTE[region]                                       # (S, H, W, 3)
    image += (brain * texture)[..., None] * _TISSUE_TEXTURE
    image += _tumour_contrast(rng, tumour, texture)
    image *= rng.uniform(0.85, 1.15, size=3).astype(np.float32)  # this patient's scanner gain
    image += _NOISE_SIGMA * rng.standard_normal(image.shape, dtype=np.float32)
    # |.| turns the noise of the dark background into the positive (Rician-like) noise of MRI.
    return np.clip(np.rint(np.abs(image)), 0, 255).astype(np.uint8), tumour.astype(np.uint8)


def _head_radius(rng, t, y, x):
    """Elliptical "radius" of every voxel: <= 1 inside the head (which narrows at the ends)."""
    centre_y, centre_x = rng.normal(0, 0.03, size=2)
    half_height = rng.uniform(0.74, 0.84)
    half_width = half_height * rng.uniform(0.78, 0.9)
    angle = rng.normal(0, 0.08)
    stack_scale = np.sqrt(1 - 0.6 * t**2)  # the head is smaller in the top and bottom slices
    along = (y - centre_y) * np.cos(angle) + (x - centre_x) * np.sin(angle)
    across = (x - centre_x) * np.cos(angle) - (y - centre_y) * np.sin(angle)
    return np.hypot(along / (half_height * stack_scale), across / (half_width * stack_scale))


def _ventricles(rng, t, y, x):
    """Two crescent-like dark ellipses beside the midline, in the middle slices only."""
    extent = np.clip(1 - (t / 0.6) ** 2, 0, None)  # 0 outside the middle of the stack
    length, width = rng.uniform(0.16, 0.22), rng.uniform(0.04, 0.06)
    inside = np.zeros(np.broadcast_shapes(t.shape, y.shape, x.shape), dtype=bool)
    for side in (-1, 1):
        cx = side * rng.uniform(0.08, 0.11)
        inside |= ((y + 0.05) / length) ** 2 + ((x - cx) / width) ** 2 < extent
    return inside


def _tumour(rng, t, y, x, size):
    """bool (S, H, W): the union of 1-3 ellipsoid lobes with a noisy boundary.

    Each lobe's cross-section radius follows sqrt(1 - ((t - t0) / h)^2), so
    the tumour appears, grows and shrinks through the stack; the tumour
    covers about 40-75 % of the slices.
    """
    angle, distance = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.45)
    centre = np.array([distance * np.sin(angle), distance * np.cos(angle), rng.uniform(-0.3, 0.3)])
    radius, half_extent = rng.uniform(0.07, 0.22), rng.uniform(0.4, 0.75)
    pixel = size / 2
    boundary = _smooth_noise(rng, (t.shape[0], size, size), (1.0, 0.06 * pixel, 0.06 * pixel))
    inside = np.zeros(boundary.shape, dtype=bool)
    for lobe in range(rng.integers(1, 4)):
        cy, cx, ct = centre + (rng.normal(0, 0.6 * radius, size=3) if lobe else 0.0)
        r = radius * (rng.uniform(0.5, 1.0) if lobe else 1.0)
        ry, rx = r * rng.uniform(0.7, 1.3, size=2)
        profile = np.clip(1 - ((t - ct) / half_extent) ** 2, 0, None)
        distance2 = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2
        inside |= distance2 < profile * (1 + 0.3 * boundary) ** 2
    return inside


def _tumour_contrast(rng, tumour, texture):
    """float32 (S, H, W, 3): what the tumour adds to each channel, with soft edges.

    FLAIR (channel 1) gains a patient-specific +45..+90 grey levels, the
    pre-contrast channel loses a little, the post-contrast channel changes
    little; the heterogeneity follows the tissue texture.
    """
    delta = np.array([-rng.uniform(5, 20), rng.uniform(45, 90), rng.uniform(-5, 15)],
                     dtype=np.float32)
    soft = ndimage.gaussian_filter(tumour.astype(np.float32), (0, 0.8, 0.8))  # partial volume
    return (soft * (1 + 0.15 * texture))[..., None] * delta
