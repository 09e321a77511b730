"""Per-slice intensity scaling (slice_percentile) and the ResNet width.

The intensity tests compare tinynet's lookup-table code with plain float64
NumPy written here from the definition: k[n, c] = 255 / P, with P the
``percentile``-th percentile (np.percentile) of the nonzero pixels of channel c
of slice n (k = 1 for a channel with no nonzero pixel), and the network input
(k x / 255 - mean) / std.  The width tests derive parameter counts and shapes
from the architecture (stem ``width`` channels, doubled at each of 4 stages).
"""
import numpy as np
import pytest

import tinynet as tn
from tinynet.mri.data import DataError, SliceDataset, channel_stats, normalize
from tinynet.mri.data.preprocess import check_stats, slice_scales
from tinynet.io import CheckpointError, save_checkpoint
from tinynet.io.safetensors import save_safetensors
from tinynet.models import ResNet, resnet18, resnet34, resnet50
from tinynet.models.resnet import BasicBlock
from tinynet.mri.checkpoint import load_model, model_spec, read_spec
from tinynet.mri.inference import prepare_batch

STATS = {"mean": [0.2, 0.3, 0.25], "std": [0.15, 0.2, 0.1]}
BAD_PERCENTILES = [0, 150, "99", True]


def with_percentile(stats, percentile=99.0):
    return {**stats, "slice_percentile": percentile}


def reference_scales(images, percentile):
    """k (N, 3) straight from the definition, with np.percentile on the nonzero pixels."""
    images = np.asarray(images)
    k = np.ones((images.shape[0], 3))
    for n in range(images.shape[0]):
        for c in range(3):
            channel = images[n, ..., c].astype(np.float64)
            if (channel > 0).any():
                k[n, c] = 255.0 / np.percentile(channel[channel > 0], percentile)
    return k


def reference_normalize(images, stats, scales):
    """float64 (N, 3, H, W): (k x / 255 - mean) / std."""
    x = np.asarray(images, np.float64).transpose(0, 3, 1, 2) / 255.0
    mean = np.asarray(stats["mean"])[None, :, None, None]
    std = np.asarray(stats["std"])[None, :, None, None]
    return (scales[:, :, None, None] * x - mean) / std


def mri_like(rng, n=3, size=16, top=150):
    """uint8 (n, size, size, 3): a zero background around a 'head' of values 1..top."""
    images = np.zeros((n, size, size, 3), np.uint8)
    lo, hi = size // 4, size - size // 4
    images[:, lo:hi, lo:hi] = rng.integers(1, top + 1, (n, hi - lo, hi - lo, 3))
    return images


# ---------------------------------------------------------------------------
# slice_scales and normalize
# ---------------------------------------------------------------------------

def test_slice_scales_match_np_percentile_of_the_nonzero_pixels(rng):
    """k equals 255 / np.percentile of each channel's nonzero pixels, for several percentiles."""
    images = mri_like(rng, n=4)
    for percentile in (50, 90, 99, 100):
        np.testing.assert_allclose(slice_scales(images, percentile),
                                   reference_scales(images, percentile), rtol=1e-12)


def test_slice_scales_ignore_zero_pixels(rng):
    """The percentile is taken over nonzero pixels only: adding background does not change k."""
    small = np.zeros((1, 4, 4, 3), np.uint8)
    small[0] = rng.integers(100, 201, (4, 4, 3))
    big = np.zeros((1, 40, 40, 3), np.uint8)          # same pixels, 99% zero background
    big[0, :4, :4] = small[0]
    np.testing.assert_array_equal(slice_scales(big, 99), slice_scales(small, 99))
    nonzero = small[0, ..., 0].astype(np.float64).ravel()
    assert slice_scales(big, 99)[0, 0] == pytest.approx(255.0 / np.percentile(nonzero, 99))
    # Counting the zeros would give a very different factor: the test can tell them apart.
    all_pixels = big[0, ..., 0].astype(np.float64).ravel()
    assert np.percentile(all_pixels, 99) < 0.9 * np.percentile(nonzero, 99)


def test_empty_channel_keeps_k_one_and_is_exactly_minus_mean_over_std(rng):
    """A channel without nonzero pixels gets k = 1 and normalizes to -mean/std exactly."""
    images = mri_like(rng, n=2)
    images[1, ..., 1] = 0
    scales = slice_scales(images, 99)
    assert scales[1, 1] == 1.0 and scales[0, 1] != 1.0
    out = normalize(images, with_percentile(STATS))
    expected = np.float32((0.0 - STATS["mean"][1]) / STATS["std"][1])
    assert np.all(out[1, 1] == expected)


def test_normalize_with_slice_percentile_equals_the_float64_reference(rng):
    """normalize = (k x / 255 - mean) / std per slice and channel, batch and single image."""
    images = mri_like(rng, n=3)
    images[2] //= 3                                    # a darker slice: another k
    for percentile in (99.0, 75):
        stats = with_percentile(STATS, percentile)
        expected = reference_normalize(images, stats, reference_scales(images, percentile))
        out = normalize(images, stats)
        assert out.dtype == np.float32 and out.shape == (3, 3, 16, 16)
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
        single = normalize(images[2], stats)
        assert single.shape == (3, 16, 16)
        np.testing.assert_allclose(single, expected[2], rtol=1e-6, atol=1e-6)


def test_normalize_without_slice_percentile_is_the_old_formula(rng):
    """Without the key the output is bit for bit the old table (x / 255 - mean) / std."""
    images = mri_like(rng, n=2)
    levels = np.arange(256, dtype=np.float64) / 255.0
    mean, std = np.asarray(STATS["mean"]), np.asarray(STATS["std"])
    tables = ((levels[None, :] - mean[:, None]) / std[:, None]).astype(np.float32)
    old = np.stack([tables[c][images[..., c]] for c in range(3)], axis=-3)
    np.testing.assert_array_equal(normalize(images, STATS), old)
    np.testing.assert_array_equal(normalize(images[0], STATS), old[0])
    np.testing.assert_allclose(old, reference_normalize(images, STATS, np.ones((2, 3))),
                               rtol=1e-6, atol=1e-6)


def test_doubling_a_channel_gives_bit_identical_input(rng):
    """2x brightness (exact in uint8): k halves exactly, so the network input is identical."""
    images = mri_like(rng, n=2, top=127)
    brighter = images.copy()
    brighter[..., 1] *= 2                              # <= 254: no clipping
    stats = with_percentile(STATS)
    np.testing.assert_array_equal(normalize(brighter, stats), normalize(images, stats))
    # Dataset scaling does see the change: the invariance is the slice scaling's doing.
    assert not np.allclose(normalize(brighter, STATS)[:, 1], normalize(images, STATS)[:, 1])


def test_brightness_invariance_up_to_uint8_rounding(rng):
    """round(a x) normalizes to the float result x / P(x), within the derived rounding bound."""
    images = mri_like(rng, n=2, top=150)
    a = 1.6
    scaled = a * images.astype(np.float64)             # <= 240: no clipping
    brighter = np.round(scaled).astype(np.uint8)
    stats = with_percentile(STATS)
    # Float reference: P from np.percentile of the unrounded a x (= a P(x), so it is x / P(x)).
    p_float = np.array([[np.percentile(s[..., c][s[..., c] > 0], 99) for c in range(3)]
                        for s in scaled])
    expected = reference_normalize(images, stats, 255.0 / p_float * a)
    # Rounding moves each pixel and (monotone, so each order statistic and their
    # interpolation) the percentile by <= 0.5: |y/p - v/P| <= 0.5/p + v_max * 0.5 / (p P).
    p_round = p_float - 0.5
    bound = (0.5 / p_round + scaled.max() * 0.5 / (p_round * p_float)).max()
    tolerance = bound / min(STATS["std"]) + 1e-5       # + float32 rounding of the table
    out = normalize(brighter, stats)
    assert np.abs(out - expected).max() <= tolerance
    # Not vacuous: with dataset scaling the same images differ by far more.
    assert np.abs(normalize(brighter, STATS) - normalize(images, STATS)).max() > 10 * tolerance


def test_prediction_input_follows_the_spec_slice_percentile(rng):
    """prepare_batch with a spec holding slice_percentile scales each slice like normalize."""
    images = mri_like(rng, n=2, top=127)
    spec = model_spec("resnet18", {"num_classes": 2}, 16, with_percentile(STATS))
    batch = prepare_batch(list(images), spec)
    np.testing.assert_array_equal(batch, normalize(images, with_percentile(STATS)))
    brighter = images.copy()
    brighter[0] *= 2
    np.testing.assert_array_equal(prepare_batch(list(brighter), spec), batch)


# ---------------------------------------------------------------------------
# channel_stats
# ---------------------------------------------------------------------------

def tiny_dataset(rng):
    images = mri_like(rng, n=4, size=12)
    images[1] //= 4                                    # a dark scanner
    images[3, ..., 2] = 0                              # an empty channel
    masks = np.zeros(images.shape[:3], np.uint8)
    return SliceDataset.from_arrays(images, masks, ["a", "a", "b", "b"],
                                    [f"s{i}" for i in range(4)]), images


@pytest.mark.parametrize("percentile", [99.0, 80])
def test_channel_stats_with_slice_percentile_equal_direct_float64(rng, percentile):
    """mean / population std of k x / 255 over the chosen slices, computed directly."""
    dataset, images = tiny_dataset(rng)
    chosen = [1, 2, 3]
    stats = channel_stats(dataset, chosen, slice_percentile=percentile)
    k = reference_scales(images[chosen], percentile)
    values = k[:, None, None, :] * images[chosen].astype(np.float64) / 255.0
    values = values.reshape(-1, 3)
    np.testing.assert_allclose(stats["mean"], values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], values.std(axis=0), rtol=1e-10)
    assert stats["slice_percentile"] == float(percentile)
    # So the normalized training slices have mean 0 and std 1 per channel.
    out = normalize(images[chosen], stats).transpose(1, 0, 2, 3).reshape(3, -1)
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=1), 1.0, atol=1e-5)


def test_channel_stats_without_slice_percentile_are_plain_x_over_255(rng):
    """Without slice_percentile: no key, and mean / std of x / 255 over the chosen slices."""
    dataset, images = tiny_dataset(rng)
    stats = channel_stats(dataset, [0, 1])
    assert "slice_percentile" not in stats
    values = images[[0, 1]].astype(np.float64).reshape(-1, 3) / 255.0
    np.testing.assert_allclose(stats["mean"], values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], values.std(axis=0), rtol=1e-10)
    assert not np.allclose(channel_stats(dataset, [0, 1], slice_percentile=99)["mean"],
                           stats["mean"])


# ---------------------------------------------------------------------------
# Validation: check_stats, model_spec, read_spec
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("percentile", [0, 150, "99", True])
def test_check_stats_refuses_a_bad_slice_percentile(percentile):
    """check_stats (and so normalize) refuses 0, 150, "99", True with a message naming it."""
    with pytest.raises(DataError, match="slice_percentile"):
        check_stats(with_percentile(STATS, percentile))


@pytest.mark.parametrize("percentile", [99, 99.0, 0.5, 100])
def test_check_stats_accepts_a_good_slice_percentile(rng, percentile):
    """A percentile in (0, 100] passes check_stats and normalize uses it."""
    stats = with_percentile(STATS, percentile)
    mean, std = check_stats(stats)
    np.testing.assert_array_equal(mean, STATS["mean"])
    np.testing.assert_array_equal(std, STATS["std"])
    images = mri_like(rng, n=2)
    np.testing.assert_allclose(
        normalize(images, stats),
        reference_normalize(images, stats, reference_scales(images, percentile)),
        rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("percentile", [0, 150, "99", True])
def test_model_spec_refuses_a_bad_slice_percentile(percentile):
    """model_spec refuses 0, 150, "99", True with a CheckpointError naming slice_percentile."""
    with pytest.raises(CheckpointError, match="slice_percentile"):
        model_spec("resnet18", {"num_classes": 2}, 64, with_percentile(STATS, percentile))


@pytest.mark.parametrize("percentile", BAD_PERCENTILES)
def test_read_spec_refuses_a_stored_bad_slice_percentile(tmp_path, percentile):
    """A checkpoint whose stored spec has a bad slice_percentile is refused on reading."""
    spec = model_spec("resunet", {"base": 4, "depth": 2}, 32, STATS)
    spec["normalization"]["slice_percentile"] = percentile    # as a hand-edited file would
    path = tmp_path / "bad.npz"
    save_checkpoint(path, model=tn.models.ResUNet(base=4, depth=2), metadata={"model": spec})
    with pytest.raises(CheckpointError, match="slice_percentile"):
        read_spec(path)
    with pytest.raises(CheckpointError, match="slice_percentile"):
        load_model(path)


def test_pipeline_checkpoint_round_trips_slice_percentile_and_width(tmp_path, rng):
    """slice_percentile and width survive model_spec -> save -> read_spec / load_model."""
    arch_args = {"num_classes": 2, "width": 8}
    model = resnet18(**arch_args).eval()
    spec = model_spec("resnet18", arch_args, 64, with_percentile(STATS, 99))
    assert spec["normalization"]["slice_percentile"] == 99.0
    path = tmp_path / "classifier.npz"
    save_checkpoint(path, model=model, metadata={"model": spec})
    assert read_spec(path) == spec
    loaded, loaded_spec = load_model(path, task="classification")
    assert loaded_spec == spec
    assert loaded.conv1.weight.shape == (8, 3, 7, 7) and loaded.fc.weight.shape == (2, 64)
    x = prepare_batch(list(mri_like(rng, n=2, size=64)), loaded_spec)
    with tn.no_grad():
        np.testing.assert_array_equal(loaded(tn.tensor(x)).data, model(tn.tensor(x)).data)


def test_model_spec_without_slice_percentile_has_no_key():
    """Dataset scaling keeps the old normalization dict: mean and std only."""
    spec = model_spec("resnet18", {"num_classes": 2}, 64, STATS)
    assert set(spec["normalization"]) == {"mean", "std"}


# ---------------------------------------------------------------------------
# ResNet width
# ---------------------------------------------------------------------------

def resnet18_parameter_count(width, num_classes, in_channels=3):
    """Parameters of ResNet-18 (BasicBlock [2, 2, 2, 2]) from the architecture.

    stem: 7x7 conv in->w (49 in w) + BN (2w).  A stage c -> d with two blocks:
    block 0 has 3x3 c->d (9cd), 3x3 d->d (9d^2), two BNs (4d) and, when the
    shape changes, a 1x1 c->d (cd) + BN (2d); block 1 has 18 d^2 + 4d.
    fc: 8w * classes + classes.
    """
    w = width
    total = 49 * in_channels * w + 2 * w
    for c, d in [(w, w), (w, 2 * w), (2 * w, 4 * w), (4 * w, 8 * w)]:
        total += 9 * c * d + 9 * d * d + 4 * d + 18 * d * d + 4 * d
        if c != d:
            total += c * d + 2 * d
    return total + 8 * w * num_classes + num_classes


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_the_parameter_formula_gives_torchvision_resnet18():
    """The formula reproduces torchvision's 11,689,512 (width 64, 1000 classes)."""
    assert resnet18_parameter_count(64, 1000) == 11_689_512
    assert count(resnet18()) == 11_689_512


@pytest.mark.parametrize("width, num_classes", [(32, 2), (16, 5), (8, 2)])
def test_resnet18_parameter_count_follows_the_width(width, num_classes):
    """resnet18(width=w) has exactly the parameters the architecture formula gives."""
    assert count(resnet18(num_classes=num_classes, width=width)) == \
        resnet18_parameter_count(width, num_classes)


@pytest.mark.parametrize("builder, expansion", [(resnet18, 1), (resnet50, 4)])
def test_width_sets_feature_and_output_shapes(builder, expansion):
    """features: (N, 8*width*expansion, H/32, W/32); forward: (N, num_classes)."""
    width = 8
    model = builder(num_classes=3, width=width).eval()
    x = tn.tensor(np.random.default_rng(0).standard_normal((2, 3, 64, 96)).astype(np.float32))
    with tn.no_grad():
        assert model.features(x).shape == (2, 8 * width * expansion, 2, 3)
        assert model(x).shape == (2, 3)
    assert model.fc.weight.shape == (3, 8 * width * expansion)


def test_width_changes_shapes_only_not_keys():
    """width 32 and 64 have the same keys in the same order; channel dims halve, others stay."""
    wide = resnet18(num_classes=2).state_dict()
    narrow = resnet18(num_classes=2, width=32).state_dict()
    assert list(wide) == list(narrow)
    for key, value in wide.items():
        shape = list(np.shape(value))
        if key == "conv1.weight":
            shape[0] //= 2                              # its input stays 3 channels
        elif key == "fc.weight":
            shape[1] //= 2                              # its output stays 2 classes
        elif key.endswith(".weight") and len(shape) == 4:
            shape[0] //= 2
            shape[1] //= 2
        elif len(shape) == 1 and key != "fc.bias":     # BatchNorm weight/bias/running stats
            shape[0] //= 2
        assert tuple(np.shape(narrow[key])) == tuple(shape), key


def test_default_width_is_the_standard_resnet():
    """width=64 is the default: same keys and shapes as resnet18() without it."""
    default, explicit = resnet18().state_dict(), resnet18(width=64).state_dict()
    assert {k: np.shape(v) for k, v in default.items()} == \
        {k: np.shape(v) for k, v in explicit.items()}
    assert default["layer4.1.conv2.weight"].shape == (512, 512, 3, 3)


@pytest.mark.parametrize("width", [0, -1, 2.5, True, "32", None])
def test_bad_width_raises_value_error(width):
    """width 0, -1, 2.5, True, "32", None: a ValueError naming width, for every builder."""
    for builder in (resnet18, resnet34, resnet50):
        with pytest.raises(ValueError, match="width"):
            builder(num_classes=2, width=width)
    with pytest.raises(ValueError, match="width"):
        ResNet(BasicBlock, [2, 2, 2, 2], width=width)


def test_width_64_weights_do_not_load_into_width_32():
    """Width-64 weights in a width-32 ResNet: one message naming both widths (the builder),
    or the shapes (load_state_dict)."""
    weights = resnet18(num_classes=2).state_dict()
    with pytest.raises(ValueError, match=r"width 64 .* this one has width 32: pass width=64"):
        resnet18(num_classes=2, width=32, weights=weights)
    narrow = resnet18(num_classes=2, width=32)
    before = narrow.conv1.weight.data.copy()
    with pytest.raises(RuntimeError, match="size mismatch"):
        narrow.load_state_dict(weights)
    np.testing.assert_array_equal(narrow.conv1.weight.data, before)   # nothing copied


def test_weights_of_the_same_width_load_through_the_builder():
    """resnet18(width=8, weights=...) of a width-8 state dict copies the weights."""
    source = resnet18(num_classes=2, width=8)
    model = resnet18(num_classes=2, width=8, weights=source.state_dict())
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key], value)


def test_train_classifier_parses_width():
    """--width is a positive integer option of train_classifier.py, default 64."""
    from test_train_examples import load_script
    parser = load_script("train_classifier").build_parser()
    assert parser.parse_args([]).width == 64
    assert parser.parse_args(["--width", "32"]).width == 32
    for bad in ("0", "-3", "2.5"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--width", bad])
    assert parser.parse_args(["--intensity", "slice"]).intensity == "slice"
    with pytest.raises(SystemExit):
        parser.parse_args(["--intensity", "patient"])


# ---------------------------------------------------------------------------
# float16 weights
# ---------------------------------------------------------------------------

def half_weights(model):
    """The state dict with every float array stored as float16 (integers kept)."""
    return {k: (np.asarray(v).astype(np.float16) if np.asarray(v).dtype.kind == "f"
                else np.asarray(v)) for k, v in model.state_dict().items()}


def randomized_resnet(width=8):
    """An eval-mode ResNet-18 whose BatchNorms have non-trivial statistics."""
    model = resnet18(num_classes=2, width=width)
    rng = np.random.default_rng(5)
    for name, value in model.state_dict().items():
        if name.endswith("running_mean") or name.endswith("bias"):
            value[...] = rng.normal(0, 0.1, value.shape)
        elif name.endswith("running_var") or (name.endswith("weight") and value.ndim == 1):
            value[...] = rng.uniform(0.5, 1.5, value.shape)
    return model.eval()


def test_float16_weights_load_as_float32(tmp_path):
    """fp16 weights (state dict, .safetensors, pipeline .npz) give float32(fp16) parameters."""
    source = randomized_resnet()
    half = half_weights(source)
    save_safetensors(tmp_path / "w.safetensors",
                     {k: v for k, v in half.items() if v.dtype == np.float16})
    spec = model_spec("resnet18", {"num_classes": 2, "width": 8}, 64, STATS)
    save_checkpoint(tmp_path / "w.npz", model=half, metadata={"model": spec})
    models = [resnet18(num_classes=2, width=8),
              resnet18(num_classes=2, width=8, weights=tmp_path / "w.safetensors"),
              load_model(tmp_path / "w.npz")[0]]
    models[0].load_state_dict(half)
    for model in models:
        for name, param in model.named_parameters():
            assert param.data.dtype == np.float32, name
            np.testing.assert_array_equal(param.data, half[name].astype(np.float32))
        for name, buffer in model.named_buffers():
            if name.endswith("running_var"):
                assert buffer.data.dtype == np.float32
                np.testing.assert_array_equal(buffer.data, half[name].astype(np.float32))


def test_float16_weights_give_outputs_within_fp16_rounding():
    """fp16-stored weights: outputs equal float32(fp16) weights', close to the original's."""
    source = randomized_resnet()
    model = resnet18(num_classes=2, width=8)
    model.load_state_dict(half_weights(source))
    model.eval()
    x = tn.tensor(np.random.default_rng(1).standard_normal((3, 3, 64, 64)).astype(np.float32))
    with tn.no_grad():
        original = source(x).data
        features_original = source.features(x).data
        features_half = model.features(x).data
        out = model(x).data
    assert out.dtype == np.float32
    # Every weight moves by <= 2^-11 relative; about 20 layers in series each add
    # that much, so the relative change of the features stays near 20 * 2^-11.
    relative = np.abs(features_half - features_original).max() / np.abs(features_original).max()
    assert 0 < relative <= 20 * 2.0 ** -11
    scale = np.abs(original).max()
    assert np.abs(out - original).max() <= 20 * 2.0 ** -11 * scale


@pytest.mark.parametrize("percentile", [0, 150, "99", True, -5])
def test_channel_stats_refuses_a_bad_slice_percentile(percentile):
    """channel_stats names slice_percentile instead of treating 0 as off or failing in NumPy."""
    images = np.full((2, 4, 4, 3), 7, dtype=np.uint8)
    dataset = SliceDataset.from_arrays(images, np.zeros((2, 4, 4), np.uint8), ["p", "p"],
                                       ["a", "b"])
    with pytest.raises(DataError, match="slice_percentile"):
        channel_stats(dataset, [0, 1], slice_percentile=percentile)


def test_numpy_integer_percentile_is_accepted():
    """A NumPy integer percentile is a number like any other."""
    mean, _ = check_stats(with_percentile(STATS, np.int64(99)))
    np.testing.assert_array_equal(mean, STATS["mean"])


def test_resume_of_a_run_older_than_a_flag_reports_the_flag_ignored(tmp_path):
    """--resume of a last.npz saved before --width/--intensity existed says it ignores them."""
    from tinynet.mri.run import resume_config
    old_config = {"epochs": 2, "lr": 0.001, "out": str(tmp_path)}      # no width, no intensity
    path = tmp_path / "last.npz"
    save_checkpoint(path, {"w": np.zeros(1, np.float32)},
                    metadata={"run": {"config": old_config}, "model": {"task": "classification"}})
    config, ignored, task = resume_config(path, {"width": 32, "intensity": "slice", "epochs": 4})
    assert task == "classification" and config["epochs"] == 4
    assert "width" not in config and "intensity" not in config
    assert sorted(ignored) == [
        "intensity='slice' (the run was saved before this setting existed)",
        "width=32 (the run was saved before this setting existed)"]
