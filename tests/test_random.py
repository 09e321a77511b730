"""tn.Generator, the global generator's functions, and ``generator=`` honoured everywhere.

The values differ from PyTorch's (NumPy's PCG64 against PyTorch's Mersenne
Twister), so the parity test at the end compares shapes, dtypes and the rules
"same seed -> same result, different seed -> different result" in each library.
"""
import numpy as np
import pytest

import tinynet as tn
from tinynet import backend
from tinynet.random import GENERATOR_DEFAULT_SEED, rng_of
from tinynet.utils.data import (DataLoader, RandomSampler, SubsetRandomSampler, TensorDataset,
                                WeightedRandomSampler, random_split)
from torch_parity import dtype_name, to_numpy

# Every tinynet function that takes generator=, as a draw from generator g.
DRAWS = {
    "randperm": lambda g: tn.randperm(10, generator=g),
    "randn": lambda g: tn.randn(2, 3, generator=g),
    "rand": lambda g: tn.rand(4, generator=g),
    "randint": lambda g: tn.randint(0, 100, (5,), generator=g),
    "normal": lambda g: tn.normal(2.0, 3.0, (3,), generator=g),
    "normal_tensors": lambda g: tn.normal(tn.zeros(3), tn.ones(3), generator=g),
    "bernoulli": lambda g: tn.bernoulli(tn.full((32,), 0.5), generator=g),
    "multinomial": lambda g: tn.multinomial(tn.ones(20), 5, generator=g),
}


def values(tensor):
    return tensor.numpy().tolist()


# --- tn.Generator -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", DRAWS)
def test_a_generator_makes_each_draw_reproducible(name):
    draw = DRAWS[name]
    first = values(draw(tn.Generator().manual_seed(42)))
    assert values(draw(tn.Generator().manual_seed(42))) == first
    assert values(draw(tn.Generator().manual_seed(43))) != first


@pytest.mark.parametrize("name", DRAWS)
def test_a_generator_leaves_the_global_stream_untouched(name):
    tn.manual_seed(5)
    expected = values(tn.rand(6))
    tn.manual_seed(5)
    DRAWS[name](tn.Generator().manual_seed(1))
    assert values(tn.rand(6)) == expected


@pytest.mark.parametrize("name", DRAWS)
def test_without_a_generator_the_draws_follow_manual_seed(name):
    tn.manual_seed(9)
    first = values(DRAWS[name](None))
    tn.manual_seed(9)
    assert values(DRAWS[name](None)) == first


def test_generators_are_independent_of_each_other():
    alone = values(tn.randn(8, generator=tn.Generator().manual_seed(3)))
    g, other = tn.Generator().manual_seed(3), tn.Generator().manual_seed(3)
    interleaved = []
    for _ in range(8):
        interleaved.append(values(tn.randn(1, generator=g))[0])
        tn.randn(5, generator=other)   # draws from the other one do not move g
        tn.randn(5)                    # nor do draws from the global generator
    assert interleaved == alone


def test_manual_seed_returns_the_generator_for_chaining():
    g = tn.Generator()
    assert g.manual_seed(1) is g
    assert tn.manual_seed(1) is tn.default_generator


def test_initial_seed_and_the_default_seed():
    assert tn.Generator().initial_seed() == GENERATOR_DEFAULT_SEED   # PyTorch's default, too
    g = tn.Generator().manual_seed(7)
    tn.rand(3, generator=g)
    assert g.initial_seed() == 7                                     # draws do not change it
    # Unseeded generators agree with each other, as in PyTorch.
    assert values(tn.rand(3, generator=tn.Generator())) == values(tn.rand(3,
                                                                          generator=tn.Generator()))


def test_seeds_are_read_as_pytorch_reads_them():
    assert tn.Generator().manual_seed(-1).initial_seed() == 2**64 - 1
    assert tn.Generator().manual_seed(np.int64(5)).initial_seed() == 5
    with pytest.raises(ValueError, match="seed must be in"):
        tn.Generator().manual_seed(2**64)
    with pytest.raises(ValueError, match="seed must be in"):
        tn.manual_seed(-2**63 - 1)


def test_seed_picks_a_fresh_seed_and_returns_it():
    g = tn.Generator()
    first = g.seed()
    assert isinstance(first, int) and 0 <= first < 2**64 and g.initial_seed() == first
    after_seed = values(tn.rand(4, generator=g))
    assert values(tn.rand(4, generator=tn.Generator().manual_seed(first))) == after_seed
    assert g.seed() != first   # 64 bits of entropy: equal only by a 2**-64 chance


def test_device_is_recorded_and_draws_happen_on_the_host():
    assert tn.Generator().device == "cpu"
    gpu = tn.Generator(device="cuda")
    assert gpu.device == "gpu" and gpu.device.type == "cuda"
    assert tn.Generator("gpu").device == "gpu"
    # The same seed draws the same numbers whatever the generator's device says.
    assert values(tn.randn(4, generator=gpu.manual_seed(2))) == values(
        tn.randn(4, generator=tn.Generator().manual_seed(2)))
    with pytest.raises(backend.DeviceError, match="unknown device"):
        tn.Generator(device="tpu")


# --- states -----------------------------------------------------------------------------------

def test_get_state_set_state_round_trip():
    g = tn.Generator().manual_seed(11)
    tn.rand(3, generator=g)
    rng_of(g).random(3, dtype=np.float32)   # a 32-bit draw leaves half a draw buffered
    state = g.get_state()
    assert isinstance(state, tn.Tensor) and state.dtype == tn.uint8 and state.ndim == 1
    expected = values(tn.randn(5, generator=g))
    assert g.set_state(state) is g
    assert values(tn.randn(5, generator=g)) == expected
    assert rng_of(g).random(dtype=np.float32) == rng_of(g.set_state(state)).random(
        dtype=np.float32)
    # A state moves to another generator, which then draws what g draws.
    twin = tn.Generator().set_state(state)
    g.set_state(state)
    assert values(tn.rand(7, generator=twin)) == values(tn.rand(7, generator=g))


def test_a_state_is_a_snapshot():
    g = tn.Generator().manual_seed(4)
    state = g.get_state()
    copy = values(state)
    tn.rand(10, generator=g)
    assert values(state) == copy and values(g.get_state()) != copy


def test_global_rng_state_round_trip():
    tn.manual_seed(21)
    tn.rand(2)
    state = tn.get_rng_state()
    expected = values(tn.randn(5))
    tn.randn(3)
    tn.set_rng_state(state)
    assert values(tn.randn(5)) == expected
    assert tn.initial_seed() == 21          # restoring a state keeps the seed, as in PyTorch
    assert values(tn.default_generator.get_state()) == values(tn.get_rng_state())


def test_a_wrong_state_is_a_clear_error_and_changes_nothing():
    g = tn.Generator().manual_seed(8)
    state = g.get_state()
    with pytest.raises(ValueError, match="not a state from get_state"):
        g.set_state(tn.tensor([1, 2, 3], dtype=tn.uint8))
    with pytest.raises(ValueError, match="not a state from get_state"):
        g.set_state(tn.tensor(list(b'{"bit_generator": "MT19937"}'), dtype=tn.uint8))
    with pytest.raises(TypeError, match="uint8 Tensor.*got a Tensor of dtype float32"):
        g.set_state(tn.zeros(3))
    with pytest.raises(TypeError, match="uint8 Tensor.*got list"):
        tn.set_rng_state([1, 2])
    assert values(g.get_state()) == values(state)


# --- the global generator ---------------------------------------------------------------------

def test_manual_seed_gives_the_stream_it_always_gave():
    """tn.manual_seed(s) restarts the global stream as np.random.default_rng(s), as before
    tn.Generator existed: seeded results (weights, dropout masks, shuffles) do not change."""
    tn.manual_seed(7)
    assert backend.get_rng() is rng_of(None)
    assert values(tn.rand(4)) == np.random.default_rng(7).random(4).astype(np.float32).tolist()
    assert tn.initial_seed() == 7


def test_the_default_generator_is_the_global_generator():
    tn.manual_seed(5)
    expected = values(tn.rand(3))
    tn.default_generator.manual_seed(5)
    assert values(tn.rand(3, generator=tn.default_generator)) == expected
    tn.manual_seed(5)
    assert values(tn.rand(3, generator=tn.default_generator)) == expected
    assert rng_of(tn.default_generator) is backend.get_rng()


def test_manual_seed_still_fixes_initialization_and_dropout():
    def run():
        tn.manual_seed(3)
        layer = tn.nn.Linear(4, 3)
        mask = tn.nn.functional.dropout(tn.ones(20), 0.5, training=True)
        return values(layer.weight.detach()), values(mask)
    assert run() == run()


def test_global_seed_is_fresh_and_returned():
    first = tn.seed()
    assert tn.initial_seed() == first
    expected = values(tn.rand(3))
    tn.manual_seed(first)
    assert values(tn.rand(3)) == expected


# --- rng_of and bad generators ----------------------------------------------------------------

def test_rng_of_maps_each_kind_of_generator():
    tn.manual_seed(1)
    assert rng_of(None) is backend.get_rng()
    g = tn.Generator()
    assert rng_of(g) is rng_of(g) and rng_of(g) is not backend.get_rng()
    numpy_rng = np.random.default_rng(0)
    assert rng_of(numpy_rng) is numpy_rng


@pytest.mark.parametrize("name", DRAWS)
def test_a_bad_generator_is_a_type_error_naming_its_type(name):
    with pytest.raises(TypeError, match="tn.Generator.*got int"):
        DRAWS[name](42)
    with pytest.raises(TypeError, match="got numpy.random.mtrand.RandomState"):
        DRAWS[name](np.random.RandomState(0))


def test_a_torch_generator_is_refused_by_name(torch):
    with pytest.raises(TypeError, match="got torch._C.Generator"):
        tn.randperm(3, generator=torch.Generator())
    with pytest.raises(TypeError, match="got torch._C.Generator"):
        random_split(range(4), [2, 2], generator=torch.Generator())


# --- tinynet.utils.data -----------------------------------------------------------------------

def test_random_split_with_a_generator():
    def split(seed):
        parts = random_split(range(20), [0.5, 0.5], generator=tn.Generator().manual_seed(seed))
        return [list(part.indices) for part in parts]
    tn.manual_seed(0)
    expected_global = values(tn.rand(3))
    tn.manual_seed(0)
    assert split(42) == split(42) != split(43)
    assert values(tn.rand(3)) == expected_global


def test_dataloader_shuffle_with_a_generator():
    dataset = TensorDataset(tn.arange(12))

    def epochs(seed):
        g = tn.Generator().manual_seed(seed)
        loader = DataLoader(dataset, batch_size=4, shuffle=True, generator=g)
        return [[values(batch) for (batch,) in loader] for _ in range(2)]
    tn.manual_seed(0)
    state = values(tn.get_rng_state())
    first = epochs(42)
    assert values(tn.get_rng_state()) == state        # the global generator was not drawn from
    assert first == epochs(42) != epochs(43)
    assert first[0] != first[1]                       # the generator moves on between epochs


def test_samplers_with_a_generator():
    def orders(seed):
        g = tn.Generator().manual_seed(seed)
        return (list(RandomSampler(range(30), generator=g)),
                list(RandomSampler(range(30), replacement=True, num_samples=10, generator=g)),
                list(SubsetRandomSampler(range(10, 30), generator=g)),
                list(WeightedRandomSampler([1.0] * 30, 10, generator=g)))
    assert orders(1) == orders(1) != orders(2)


# --- the PyTorch idiom, run with both libraries -----------------------------------------------

def seeded_idiom(lib, seed):
    """Everything that takes a generator in PyTorch's tutorials, from one seeded generator."""
    g = lib.Generator().manual_seed(seed)
    data = lib.utils.data
    train, val = data.random_split(range(10), [0.5, 0.5], generator=g)
    loader = data.DataLoader(data.TensorDataset(lib.arange(8.0)), batch_size=4, shuffle=True,
                             generator=g)
    return {
        "randperm": lib.randperm(10, generator=g),
        "randn": lib.randn(2, 3, generator=g),
        "rand": lib.rand(4, generator=g),
        "randint": lib.randint(0, 100, (5,), generator=g),
        "normal": lib.normal(2.0, 3.0, (3,), generator=g),
        "normal_tensors": lib.normal(lib.zeros(3), lib.ones(3), generator=g),
        "bernoulli": lib.bernoulli(lib.full((32,), 0.5), generator=g),
        "multinomial": lib.multinomial(lib.ones(20), 5, generator=g),
        "split": [list(train.indices), list(val.indices)],
        "loader": [batch for (batch,) in loader],
    }


def kinds(result):
    """Shapes and dtypes of an idiom's tensors (and the sizes of its lists)."""
    def kind(value):
        if isinstance(value, list):
            return [kind(item) for item in value]
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            return tuple(value.shape), dtype_name(value)
        return type(value).__name__
    return {key: kind(value) for key, value in result.items()}


def plain(result):
    def convert(value):
        if isinstance(value, list):
            return [convert(item) for item in value]
        return to_numpy(value).tolist() if hasattr(value, "shape") else value
    return {key: convert(value) for key, value in result.items()}


def test_the_generator_idiom_runs_with_both_libraries(torch):
    results = {}
    for lib in (torch, tn):
        first, again, other = (plain(seeded_idiom(lib, seed)) for seed in (42, 42, 7))
        assert first == again, lib.__name__
        assert all(first[key] != other[key] for key in first), lib.__name__
        results[lib.__name__] = seeded_idiom(lib, 42)
    assert kinds(results["tinynet"]) == kinds(results["torch"])
