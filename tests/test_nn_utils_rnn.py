"""tinynet/nn/utils/rnn.py (padding and packing) and packed input to RNN/LSTM/GRU, against
PyTorch.

Each parity test runs the same code in both frameworks on the same NumPy arrays (the
layers with PyTorch's weights copied in by state_dict) and compares the results and,
in float64, the gradients of the inputs and of every parameter.  The gradients come
from one backward of a sum of the outputs, each weighted by fixed random numbers.

Tolerances: float64 rtol 1e-10 / atol 1e-12, from summation-order differences only;
padding and packing move values and are compared exactly.
"""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
from tinynet.nn.utils.rnn import (PackedSequence, pack_padded_sequence, pack_sequence,
                                  pad_packed_sequence, pad_sequence, unpack_sequence)

INPUT_SIZE, HIDDEN = 3, 4
F64 = dict(rtol=1e-10, atol=1e-12)
UNSORTED = [3, 5, 1, 3, 2]       # with a tie (3, 3): the sort must keep PyTorch's order
SORTED = [5, 3, 3, 2, 1]


def to_numpy(t):
    return t.detach().cpu().numpy()


def tensors(lib, arrays):
    return [lib.tensor(a, requires_grad=True) for a in arrays]


def weighted_sum(lib, outputs):
    """A scalar that depends on every output element with its own fixed weight."""
    rng = np.random.default_rng(7)
    return sum((o * lib.tensor(rng.standard_normal(tuple(o.shape)))).sum() for o in outputs)


def assert_all_close(ours, theirs, exact=False):
    assert list(ours) == list(theirs)
    for key in theirs:
        assert ours[key].shape == theirs[key].shape, key
        assert ours[key].dtype == theirs[key].dtype, key
        if exact:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
        else:
            np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **F64)


def padded_batch(lengths, batch_first, features=(INPUT_SIZE,), seed=0):
    longest = max(lengths)
    shape = (len(lengths), longest) if batch_first else (longest, len(lengths))
    return np.random.default_rng(seed).standard_normal(shape + features)


def packed_fields(packed):
    fields = {"data": to_numpy(packed.data), "batch_sizes": packed.batch_sizes.numpy()}
    for name in ("sorted_indices", "unsorted_indices"):
        index = getattr(packed, name)
        fields[name] = None if index is None else to_numpy(index)
    return fields


# ---------------------------------------------------------------------------
# pad_sequence, pack_padded_sequence, pad_packed_sequence, pack_sequence
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("features", [(), (2, 3)], ids=["1-D", "(L, 2, 3)"])
def test_pad_sequence_matches_torch(torch, batch_first, padding_side, features):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((length,) + features) for length in UNSORTED]

    def run(lib):
        inputs = tensors(lib, arrays)
        padded = lib.nn.utils.rnn.pad_sequence(inputs, batch_first=batch_first,
                                               padding_value=-2.5, padding_side=padding_side)
        weighted_sum(lib, [padded]).backward()
        return {"padded": to_numpy(padded),
                **{f"grad {i}": to_numpy(t.grad) for i, t in enumerate(inputs)}}
    assert_all_close(run(tn), run(torch), exact=True)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths, enforce_sorted", [(SORTED, True), (UNSORTED, False),
                                                     (SORTED, False)])
def test_pack_padded_sequence_matches_torch(torch, lengths, enforce_sorted, batch_first):
    array = padded_batch(lengths, batch_first)

    def run(lib):
        x = lib.tensor(array, requires_grad=True)
        packed = lib.nn.utils.rnn.pack_padded_sequence(x, lib.tensor(lengths), batch_first,
                                                       enforce_sorted)
        weighted_sum(lib, [packed.data]).backward()
        return packed, {**packed_fields(packed), "grad x": to_numpy(x.grad)}
    ours, found = run(tn)
    theirs, expected = run(torch)
    assert (found["sorted_indices"] is None) == (expected["sorted_indices"] is None) \
        == enforce_sorted
    if enforce_sorted:
        del found["sorted_indices"], found["unsorted_indices"]
        del expected["sorted_indices"], expected["unsorted_indices"]
    assert_all_close(found, expected, exact=True)
    assert isinstance(ours, PackedSequence) and isinstance(ours, tuple)
    assert ours._fields == theirs._fields
    assert ours.batch_sizes.device == tn.device("cpu")


@pytest.mark.parametrize("total_length", [None, 7])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths, enforce_sorted", [(SORTED, True), (UNSORTED, False)])
def test_pad_packed_sequence_matches_torch(torch, lengths, enforce_sorted, batch_first,
                                           total_length):
    array = padded_batch(lengths, batch_first=False)

    def run(lib):
        x = lib.tensor(array, requires_grad=True)
        packed = lib.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
        padded, out_lengths = lib.nn.utils.rnn.pad_packed_sequence(
            packed, batch_first=batch_first, padding_value=9.0, total_length=total_length)
        weighted_sum(lib, [padded]).backward()
        return {"padded": to_numpy(padded), "lengths": out_lengths.numpy(),
                "grad x": to_numpy(x.grad)}
    assert_all_close(run(tn), run(torch), exact=True)


@pytest.mark.parametrize("lengths, enforce_sorted", [(SORTED, True), (UNSORTED, False)])
def test_pack_sequence_and_its_inverses_match_torch(torch, lengths, enforce_sorted):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((length, 2)) for length in lengths]

    def run(lib):
        inputs = tensors(lib, arrays)
        utils = lib.nn.utils.rnn
        packed = utils.pack_sequence(inputs, enforce_sorted=enforce_sorted)
        unpacked = utils.unpack_sequence(packed)
        padded = utils.pad_sequence(inputs)
        unpadded = utils.unpad_sequence(padded, lib.tensor(lengths))
        weighted_sum(lib, unpacked + unpadded).backward()
        found = {k: v for k, v in packed_fields(packed).items() if v is not None}
        found.update({f"unpacked {i}": to_numpy(t) for i, t in enumerate(unpacked)})
        found.update({f"unpadded {i}": to_numpy(t) for i, t in enumerate(unpadded)})
        found.update({f"grad {i}": to_numpy(t.grad) for i, t in enumerate(inputs)})
        return found
    found = run(tn)
    assert_all_close(found, run(torch), exact=True)
    for i, array in enumerate(arrays):
        np.testing.assert_array_equal(found[f"unpacked {i}"], array)


def test_packed_sequence_casts_and_moves_like_torch(torch):
    packed = pack_sequence([tn.ones(3, 2, dtype=tn.float64), tn.ones(1, 2, dtype=tn.float64)])
    assert packed.float().data.dtype == tn.float32 and packed.double().data.dtype == tn.float64
    assert packed.to(tn.float32).data.dtype == tn.float32
    assert packed.to("cpu") is packed and packed.cpu() is packed and not packed.is_cuda
    assert packed.to(tn.float32).batch_sizes is packed.batch_sizes
    # Given sorted_indices only, the inverse permutation is made, as PyTorch does.
    made = PackedSequence(packed.data, packed.batch_sizes, tn.tensor([1, 2, 0]))
    theirs = torch.nn.utils.rnn.PackedSequence(torch.ones(4, 2), torch.tensor([3, 1]),
                                               torch.tensor([1, 2, 0]))
    assert made.unsorted_indices.tolist() == theirs.unsorted_indices.tolist()
    data, batch_sizes, sorted_indices, unsorted_indices = made
    assert sorted_indices.tolist() == [1, 2, 0]


# ---------------------------------------------------------------------------
# RNN, LSTM, GRU on packed input
# ---------------------------------------------------------------------------

LAYER_CASES = [
    ("RNN", dict()),
    ("RNN", dict(num_layers=2, bidirectional=True, nonlinearity="relu")),
    ("LSTM", dict()),
    ("LSTM", dict(num_layers=2, batch_first=True)),
    ("LSTM", dict(bidirectional=True, batch_first=True)),
    ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=2)),
    ("GRU", dict(bidirectional=True)),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True, bias=False)),
]


def build_pair(torch, name, kwargs):
    """(PyTorch's float64 layer, ours) with PyTorch's weights copied into ours by name."""
    theirs = getattr(torch.nn, name)(INPUT_SIZE, HIDDEN, **kwargs, dtype=torch.float64)
    ours = getattr(nn, name)(INPUT_SIZE, HIDDEN, **kwargs, dtype=np.float64)
    assert ours.load_state_dict({k: v.detach().numpy()
                                 for k, v in theirs.state_dict().items()}) == ([], [])
    return theirs, ours


def initial_state_arrays(name, kwargs, batch):
    rng = np.random.default_rng(4)
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    arrays = [rng.standard_normal((layers, batch, kwargs.get("proj_size") or HIDDEN))]
    if name == "LSTM":
        arrays.append(rng.standard_normal((layers, batch, HIDDEN)))
    return arrays


def run_packed(lib, layer, name, x_array, lengths, enforce_sorted, h0_arrays):
    """pack -> layer -> pad: the packed output, the padded one, the final states, and the
    gradients of the input, the initial states and every parameter, as NumPy arrays."""
    batch_first = layer.batch_first
    x = lib.tensor(x_array, requires_grad=True)
    states = tensors(lib, h0_arrays)
    packed = lib.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=batch_first,
                                                   enforce_sorted=enforce_sorted)
    hx = None if not states else tuple(states) if name == "LSTM" else states[0]
    output, hidden = layer(packed, hx)
    assert type(output).__name__ == "PackedSequence"
    padded, out_lengths = lib.nn.utils.rnn.pad_packed_sequence(output, batch_first=batch_first)
    finals = list(hidden) if name == "LSTM" else [hidden]
    weighted_sum(lib, [output.data] + finals).backward()
    found = {"packed output": to_numpy(output.data), "padded output": to_numpy(padded),
             "lengths": out_lengths.numpy(), "batch_sizes": output.batch_sizes.numpy()}
    found.update({f"final state {i}": to_numpy(t) for i, t in enumerate(finals)})
    found.update({"grad x": to_numpy(x.grad)})
    found.update({f"grad initial state {i}": to_numpy(t.grad) for i, t in enumerate(states)})
    found.update({f"grad {n}": to_numpy(p.grad) for n, p in layer.named_parameters()})
    return found


@pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero h0", "given h0"])
@pytest.mark.parametrize("lengths, enforce_sorted", [(SORTED, True), (UNSORTED, False)])
@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=str)
def test_layer_on_packed_input_matches_torch_float64(torch, name, kwargs, lengths,
                                                     enforce_sorted, with_h0):
    theirs, ours = build_pair(torch, name, kwargs)
    x_array = padded_batch(lengths, kwargs.get("batch_first", False))
    h0 = initial_state_arrays(name, kwargs, len(lengths)) if with_h0 else []
    found = run_packed(tn, ours, name, x_array, lengths, enforce_sorted, h0)
    assert any(key.startswith("grad weight_hh") for key in found)
    assert_all_close(found, run_packed(torch, theirs, name, x_array, lengths, enforce_sorted,
                                       h0))


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_packed_output_equals_each_sequence_run_alone(name):
    """Independent of PyTorch: sequence i of a packed batch gets the output and h_n it gets
    alone (no padding), in both directions."""
    layer = getattr(nn, name)(INPUT_SIZE, HIDDEN, bidirectional=True, dtype=np.float64)
    rng = np.random.default_rng(5)
    sequences = [tn.tensor(rng.standard_normal((length, INPUT_SIZE))) for length in UNSORTED]
    output, hidden = layer(pack_sequence(sequences, enforce_sorted=False))
    h_n = hidden[0] if name == "LSTM" else hidden
    for i, (alone, sequence) in enumerate(zip(unpack_sequence(output), sequences)):
        expected, expected_hidden = layer(sequence)
        expected_h = expected_hidden[0] if name == "LSTM" else expected_hidden
        np.testing.assert_allclose(alone.numpy(), expected.numpy(), **F64)
        np.testing.assert_allclose(h_n.numpy()[:, i], expected_h.numpy(), **F64)


def test_gradcheck_through_pack_gru_and_pad():
    gru = nn.GRU(2, 3, num_layers=2, bidirectional=True, dtype=np.float64)
    x = tn.tensor(np.random.default_rng(6).standard_normal((4, 3, 2)), requires_grad=True)
    h0 = tn.tensor(np.random.default_rng(7).standard_normal((4, 3, 3)), requires_grad=True)

    def fn(x, h0, *_):
        packed = pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
        output, h_n = gru(packed, h0)
        padded, _ = pad_packed_sequence(output, batch_first=True, total_length=5)
        return padded, h_n
    assert tn.gradcheck(fn, [x, h0, *gru.parameters()])


def test_variable_length_classifier_written_for_torch_runs_unchanged(torch):
    """The usual NLP idiom (embedding, pack with enforce_sorted=False, LSTM, pad, mean over
    the real steps), written once against ``lib``; same weights give the same logits and
    gradients (float32)."""
    def build(lib):
        class Classifier(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = lib.nn.Embedding(20, 8, padding_idx=0)
                self.lstm = lib.nn.LSTM(8, 6, batch_first=True, bidirectional=True)
                self.fc = lib.nn.Linear(12 + 12, 3)

            def forward(self, tokens, lengths):
                from_rnn = lib.nn.utils.rnn
                packed = from_rnn.pack_padded_sequence(self.embed(tokens), lengths,
                                                       batch_first=True, enforce_sorted=False)
                output, (h_n, c_n) = self.lstm(packed)
                output, out_lengths = from_rnn.pad_packed_sequence(output, batch_first=True)
                mean = output.sum(1) / out_lengths.unsqueeze(1).to(output.dtype)
                return self.fc(lib.cat([mean, h_n[0], h_n[1]], 1))
        return Classifier()

    theirs, ours = build(torch), build(tn)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    lengths = [4, 7, 2, 7]
    tokens = np.random.default_rng(5).integers(1, 20, size=(4, 7))
    tokens[np.arange(7)[None, :] >= np.array(lengths)[:, None]] = 0
    results = []
    for lib, model in ((torch, theirs), (tn, ours)):
        logits = model(lib.tensor(tokens), lib.tensor(lengths))
        lib.nn.functional.cross_entropy(logits, lib.tensor(np.array([0, 1, 2, 1]))).backward()
        results.append((to_numpy(logits), {n: to_numpy(p.grad)
                                           for n, p in model.named_parameters()}))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5, atol=1e-6)
    assert list(results[1][1]) == list(results[0][1])
    for key, grad in results[0][1].items():
        np.testing.assert_allclose(results[1][1][key], grad, rtol=1e-4, atol=1e-6, err_msg=key)


@pytest.mark.gpu
def test_packed_lstm_on_the_gpu_equals_the_cpu():
    lstm = nn.LSTM(INPUT_SIZE, HIDDEN, num_layers=2, bidirectional=True)
    x = padded_batch(UNSORTED, batch_first=True).astype(np.float32)
    found = {}
    for device in ("cpu", "gpu"):
        lstm.to(device).zero_grad()
        xt = tn.tensor(x, requires_grad=True, device=device)
        packed = pack_padded_sequence(xt, UNSORTED, batch_first=True, enforce_sorted=False)
        assert packed.sorted_indices.device == tn.device(device)
        assert packed.batch_sizes.device == tn.device("cpu")
        output, (h_n, c_n) = lstm(packed)
        padded, _ = pad_packed_sequence(output, batch_first=True)
        (padded.sum() + h_n.sum() + c_n.sum()).backward()
        assert padded.device == tn.device(device)
        found[device] = [t.cpu().numpy() for t in (padded, h_n, c_n, xt.grad)] + \
            [p.grad.cpu().numpy() for p in lstm.parameters()]
    for cpu, gpu in zip(found["cpu"], found["gpu"]):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# Errors: PyTorch's rules, with messages that name the argument and the values
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("lengths, message", [
    ([2, 3, 1], r"pack_padded_sequence: lengths must be sorted in decreasing order when "
                r"enforce_sorted is True, got \[2, 3, 1\]; pass enforce_sorted=False"),
    ([3, 2, 0], r"pack_padded_sequence: every length must be greater than 0, got lengths "
                r"\[3, 2, 0\]"),
    ([3, 2], r"pack_padded_sequence: expected lengths to hold one length per sequence, 3, "
             r"got shape \(2,\)"),
])
def test_bad_lengths_are_refused_like_torch(torch, lengths, message):
    with pytest.raises(RuntimeError):
        torch.nn.utils.rnn.pack_padded_sequence(torch.zeros(4, 3, 2), lengths)
    with pytest.raises(RuntimeError, match=message):
        pack_padded_sequence(tn.zeros(4, 3, 2), lengths)


def test_a_zero_length_is_refused_unsorted_too(torch):
    with pytest.raises(RuntimeError):
        torch.nn.utils.rnn.pack_padded_sequence(torch.zeros(4, 3, 2), [0, 3, 2],
                                                enforce_sorted=False)
    with pytest.raises(RuntimeError, match=r"every length must be greater than 0, got lengths "
                                           r"\[0, 3, 2\]"):
        pack_padded_sequence(tn.zeros(4, 3, 2), [0, 3, 2], enforce_sorted=False)


@pytest.mark.parametrize("batch_first", [False, True])
def test_lengths_longer_than_the_input_are_refused(batch_first):
    """PyTorch does not check this (it returns batch_sizes that do not match its data);
    tinynet refuses, naming the lengths and the input's steps."""
    x = tn.zeros((3, 4, 2) if batch_first else (4, 3, 2))
    with pytest.raises(RuntimeError, match=rf"pack_padded_sequence: lengths \[5, 3, 1\] run "
                                           rf"past the input's 4 time steps \(input of shape "
                                           rf"\({tuple(x.shape)[0]}, {tuple(x.shape)[1]}, 2\), "
                                           rf"batch_first={batch_first}\)"):
        pack_padded_sequence(x, [5, 3, 1], batch_first=batch_first)


def test_total_length_shorter_than_the_longest_sequence_is_refused_like_torch(torch):
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.zeros(4, 3, 2), [4, 2, 1])
    with pytest.raises(ValueError, match="total_length"):
        torch.nn.utils.rnn.pad_packed_sequence(packed, total_length=3)
    with pytest.raises(ValueError, match=r"pad_packed_sequence: total_length must be at least "
                                         r"the length of the longest sequence, 4, got "
                                         r"total_length=3"):
        pad_packed_sequence(pack_padded_sequence(tn.zeros(4, 3, 2), [4, 2, 1]), total_length=3)


def test_pad_sequence_errors(torch):
    with pytest.raises(RuntimeError, match="empty list"):
        torch.nn.utils.rnn.pad_sequence([])
    with pytest.raises(RuntimeError, match=r"pad_sequence: received an empty list"):
        pad_sequence([])
    with pytest.raises(RuntimeError, match=r"pad_sequence: the sequences must be \(L_i, \*\) "
                                           r"with the same \* after their lengths, got shapes "
                                           r"\[\(2, 3\), \(2, 4\)\]"):
        pad_sequence([tn.zeros(2, 3), tn.zeros(2, 4)])
    with pytest.raises(ValueError, match=r"padding_side must be 'left' or 'right', got 'top'"):
        pad_sequence([tn.zeros(2, 3)], padding_side="top")


def test_packed_input_with_wrong_features_or_h0_names_the_layer():
    packed = pack_padded_sequence(tn.zeros(4, 3, INPUT_SIZE + 1), [4, 2, 1])
    with pytest.raises(RuntimeError, match=r"GRU: input has 4 features .* but input_size is 3"):
        nn.GRU(INPUT_SIZE, HIDDEN)(packed)
    packed = pack_padded_sequence(tn.zeros(4, 3, INPUT_SIZE), [4, 2, 1])
    with pytest.raises(RuntimeError, match=r"LSTM: hx\[0\] \(h_0\) must have shape \(1, 3, 4\)"):
        nn.LSTM(INPUT_SIZE, HIDDEN)(packed, (tn.zeros(1, 2, HIDDEN), tn.zeros(1, 2, HIDDEN)))
