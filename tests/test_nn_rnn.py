"""tinynet/nn/rnn.py: RNN, LSTM, GRU and their cells against PyTorch.

Each parity test builds the layer in both frameworks, copies PyTorch's state_dict
into ours by name, and compares the outputs, final states and (in float64) the
gradients of the input, the initial states and every parameter.  Layers are in
training mode (their default) with dropout=0, so training-mode code paths are
compared; dropout itself is tested on its own.

Tolerances: float32 forward rtol 1e-5 / atol 1e-6; float64 rtol 1e-10 / atol 1e-12,
from summation-order differences only.
"""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn

# PyTorch's own note that its oneDNN kernels lack LSTM projections (it falls back).
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")

LAYER_CASES = [
    ("RNN", dict()),
    ("RNN", dict(nonlinearity="relu")),
    ("RNN", dict(num_layers=2, bidirectional=True)),
    ("RNN", dict(num_layers=2, nonlinearity="relu", batch_first=True, bias=False)),
    ("LSTM", dict()),
    ("LSTM", dict(num_layers=2, dropout=0.0)),
    ("LSTM", dict(bidirectional=True, batch_first=True)),
    ("LSTM", dict(num_layers=2, bidirectional=True, bias=False)),
    ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=3)),
    ("GRU", dict()),
    ("GRU", dict(num_layers=2, batch_first=True)),
    ("GRU", dict(bidirectional=True, bias=False)),
    ("GRU", dict(num_layers=2, bidirectional=True)),
]
INPUT_KINDS = ["batched", "batched_h0", "unbatched", "unbatched_h0"]
CELL_CASES = [
    ("RNNCell", dict()),
    ("RNNCell", dict(nonlinearity="relu")),
    ("RNNCell", dict(bias=False)),
    ("LSTMCell", dict()),
    ("LSTMCell", dict(bias=False)),
    ("GRUCell", dict()),
    ("GRUCell", dict(bias=False)),
]
CELL_INPUT_KINDS = ["batched", "batched_hx", "unbatched", "unbatched_hx"]
INPUT_SIZE, HIDDEN, LENGTH, BATCH = 4, 5, 6, 3
TOLERANCES = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def torch_dtype(torch, dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def build_pair(torch, name, kwargs, dtype=np.float32):
    """(PyTorch's layer, ours) with PyTorch's weights copied into ours by name."""
    theirs = getattr(torch.nn, name)(INPUT_SIZE, HIDDEN, **kwargs, dtype=torch_dtype(torch, dtype))
    ours = getattr(nn, name)(INPUT_SIZE, HIDDEN, **kwargs, dtype=dtype)
    result = ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert result == ([], [])
    return theirs, ours


def layer_arrays(name, kwargs, kind, dtype):
    """The input and (for kinds ending in _h0) the initial states, as NumPy arrays."""
    rng = np.random.default_rng(3)
    unbatched = kind.startswith("unbatched")
    batch = () if unbatched else (BATCH,)
    x_shape = (LENGTH,) + batch if not kwargs.get("batch_first") or unbatched else \
        (BATCH, LENGTH)
    arrays = [rng.standard_normal(x_shape + (INPUT_SIZE,))]
    if kind.endswith("h0"):
        layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
        h_size = kwargs.get("proj_size") or HIDDEN
        arrays.append(rng.standard_normal((layers,) + batch + (h_size,)))
        if name == "LSTM":
            arrays.append(rng.standard_normal((layers,) + batch + (HIDDEN,)))
    return [a.astype(dtype) for a in arrays]


def cell_arrays(name, kind, dtype):
    rng = np.random.default_rng(4)
    batch = () if kind.startswith("unbatched") else (BATCH,)
    arrays = [rng.standard_normal(batch + (INPUT_SIZE,))]
    if kind.endswith("hx"):
        states = 2 if name == "LSTMCell" else 1
        arrays += [rng.standard_normal(batch + (HIDDEN,)) for _ in range(states)]
    return [a.astype(dtype) for a in arrays]


def call(module, lib, arrays, lstm_style):
    """module(x) or module(x, h) or module(x, (h, c)); the result flattened to a list and
    the input tensors (which require grad)."""
    tensors = [lib.tensor(a, requires_grad=True) for a in arrays]
    x, states = tensors[0], tensors[1:]
    if not states:
        result = module(x)
    else:
        result = module(x, tuple(states) if lstm_style else states[0])
    return flatten(result), tensors


def flatten(value):
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in flatten(item)]
    return [value]


def run(module, lib, arrays, lstm_style, backward):
    """Outputs (and with ``backward`` the gradients of inputs and parameters) as NumPy arrays."""
    outputs, inputs = call(module, lib, arrays, lstm_style)
    found = {f"output {i}": to_numpy(o) for i, o in enumerate(outputs)}
    if backward:
        rng = np.random.default_rng(7)
        weights = [rng.standard_normal(tuple(o.shape)).astype(arrays[0].dtype) for o in outputs]
        sum((o * lib.tensor(w)).sum() for o, w in zip(outputs, weights)).backward()
        found.update({f"grad input {i}": to_numpy(t.grad) for i, t in enumerate(inputs)})
        found.update({f"grad {n}": to_numpy(p.grad) for n, p in module.named_parameters()})
    return found


def to_numpy(t):
    return t.detach().numpy() if hasattr(t, "detach") else t.numpy()


def assert_same(ours, theirs, dtype):
    assert list(ours) == list(theirs)
    for key in theirs:
        assert ours[key].shape == theirs[key].shape, key
        assert ours[key].dtype == theirs[key].dtype, key
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOLERANCES[dtype])


# ---------------------------------------------------------------------------
# Parity with PyTorch
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", INPUT_KINDS)
@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=str)
def test_layer_forward_matches_torch_float32(torch, name, kwargs, kind):
    theirs, ours = build_pair(torch, name, kwargs)
    arrays = layer_arrays(name, kwargs, kind, np.float32)
    assert_same(run(ours, tn, arrays, name == "LSTM", False),
                run(theirs, torch, arrays, name == "LSTM", False), np.float32)


@pytest.mark.parametrize("kind", INPUT_KINDS)
@pytest.mark.parametrize("name, kwargs", LAYER_CASES, ids=str)
def test_layer_forward_and_backward_match_torch_float64(torch, name, kwargs, kind):
    theirs, ours = build_pair(torch, name, kwargs, np.float64)
    arrays = layer_arrays(name, kwargs, kind, np.float64)
    ours_found = run(ours, tn, arrays, name == "LSTM", True)
    assert any(key.startswith("grad weight_hh") for key in ours_found)
    assert_same(ours_found, run(theirs, torch, arrays, name == "LSTM", True), np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", CELL_INPUT_KINDS)
@pytest.mark.parametrize("name, kwargs", CELL_CASES, ids=str)
def test_cell_matches_torch(torch, name, kwargs, kind, dtype):
    theirs, ours = build_pair(torch, name, kwargs, dtype)
    arrays = cell_arrays(name, kind, dtype)
    backward = dtype == np.float64
    assert_same(run(ours, tn, arrays, name == "LSTMCell", backward),
                run(theirs, torch, arrays, name == "LSTMCell", backward), dtype)


@pytest.mark.parametrize("name, kwargs", LAYER_CASES + CELL_CASES, ids=str)
def test_state_dict_keys_shapes_and_repr_match_torch(torch, name, kwargs):
    theirs = getattr(torch.nn, name)(INPUT_SIZE, HIDDEN, **kwargs)
    ours = getattr(nn, name)(INPUT_SIZE, HIDDEN, **kwargs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)


def test_lstm_classifier_written_for_torch_runs_unchanged(torch):
    """Typical user code (embedding, LSTM with flatten_parameters, last step, linear),
    written once against ``lib``; same weights give the same logits and gradients."""
    def build(lib):
        class Classifier(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = lib.nn.Embedding(20, 8)
                self.lstm = lib.nn.LSTM(8, 6, num_layers=2, batch_first=True,
                                        bidirectional=True)
                self.fc = lib.nn.Linear(12, 3)

            def forward(self, tokens):
                self.lstm.flatten_parameters()
                output, (h_n, c_n) = self.lstm(self.embed(tokens))
                return self.fc(output[:, -1, :]) + h_n.sum() * 0.1
        return Classifier()

    theirs, ours = build(torch), build(tn)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    tokens = np.random.default_rng(5).integers(0, 20, size=(4, 7))
    losses = []
    for lib, model in ((torch, theirs), (tn, ours)):
        logits = model(lib.tensor(tokens))
        loss = lib.nn.functional.cross_entropy(logits, lib.tensor(np.array([0, 1, 2, 1])))
        loss.backward()
        losses.append((to_numpy(logits), {n: to_numpy(p.grad)
                                          for n, p in model.named_parameters()}))
    np.testing.assert_allclose(losses[1][0], losses[0][0], rtol=1e-5, atol=1e-6)
    assert list(losses[1][1]) == list(losses[0][1])
    for key, grad in losses[0][1].items():
        np.testing.assert_allclose(losses[1][1][key], grad, rtol=1e-4, atol=1e-6, err_msg=key)


# ---------------------------------------------------------------------------
# Gradient checks (float64, central differences)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_gradcheck(name):
    cell = getattr(nn, name)(3, 2, dtype=np.float64)
    rng = np.random.default_rng(0)
    x = tn.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    h = tn.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    c = tn.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    params = list(cell.parameters())
    if name == "LSTMCell":
        assert tn.gradcheck(lambda x, h, c, *_: cell(x, (h, c)), [x, h, c, *params])
    else:
        assert tn.gradcheck(lambda x, h, *_: cell(x, h), [x, h, *params])


def test_bidirectional_two_layer_gru_gradcheck():
    gru = nn.GRU(3, 2, num_layers=2, bidirectional=True, dtype=np.float64)
    x = tn.tensor(np.random.default_rng(1).standard_normal((4, 2, 3)), requires_grad=True)
    assert tn.gradcheck(lambda x, *_: gru(x), [x, *gru.parameters()])


# ---------------------------------------------------------------------------
# Dropout between layers
# ---------------------------------------------------------------------------

def two_lstms(dropout):
    """An LSTM with ``dropout`` between its 2 layers, and the same weights without dropout."""
    with_dropout = nn.LSTM(4, 5, num_layers=2, dropout=dropout)
    without = nn.LSTM(4, 5, num_layers=2)
    without.load_state_dict(with_dropout.state_dict())
    return with_dropout, without


def test_dropout_is_off_in_eval_mode():
    with_dropout, without = two_lstms(0.5)
    x = tn.randn(LENGTH, BATCH, 4)
    expected, (h, c) = without(x)
    output, (h_n, c_n) = with_dropout.eval()(x)
    np.testing.assert_array_equal(output.numpy(), expected.numpy())
    np.testing.assert_array_equal(c_n.numpy(), c.numpy())


def test_dropout_is_applied_between_layers_in_training_only():
    with_dropout, without = two_lstms(0.5)
    x = tn.randn(LENGTH, BATCH, 4)
    expected, (h, _) = without(x)
    output, (h_n, _) = with_dropout(x)
    assert with_dropout.training
    assert not np.allclose(output.numpy(), expected.numpy())
    np.testing.assert_array_equal(h_n.numpy()[0], h.numpy()[0])   # the first layer: no dropout
    np.testing.assert_array_equal(output.numpy()[-1], h_n.numpy()[-1])  # none after the last


def test_dropout_of_one_cuts_the_second_layer_off_its_input():
    """With p=1 the second layer sees zeros: its output is the same for any input."""
    lstm = nn.LSTM(4, 5, num_layers=2, dropout=1.0)
    first, (h_first, _) = lstm(tn.randn(LENGTH, BATCH, 4))
    second, (h_second, _) = lstm(tn.randn(LENGTH, BATCH, 4))
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    assert not np.allclose(h_first.numpy()[0], h_second.numpy()[0])


def test_dropout_with_one_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="num_layers=1"):
        nn.GRU(4, 5, dropout=0.3)


# ---------------------------------------------------------------------------
# Errors, construction, initialization
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_wrong_input_size_names_the_layer_and_shapes(torch, name):
    x = np.zeros((LENGTH, BATCH, INPUT_SIZE + 1), dtype=np.float32)
    with pytest.raises(RuntimeError):
        getattr(torch.nn, name)(INPUT_SIZE, HIDDEN)(torch.tensor(x))
    with pytest.raises(RuntimeError, match=rf"{name}: input has 5 features \(shape \(6, 3, 5\)\) "
                                           rf"but input_size is 4"):
        getattr(nn, name)(INPUT_SIZE, HIDDEN)(tn.tensor(x))


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_wrong_h0_shape_names_the_layer_argument_and_shapes(torch, name):
    x = np.zeros((LENGTH, BATCH, INPUT_SIZE), dtype=np.float32)
    h0 = np.zeros((1, BATCH, HIDDEN), dtype=np.float32)
    c0 = np.zeros((2, BATCH, HIDDEN), dtype=np.float32)
    hx = lambda lib: (lib.tensor(h0), lib.tensor(c0)) if name == "LSTM" else lib.tensor(h0)
    with pytest.raises(RuntimeError):
        getattr(torch.nn, name)(INPUT_SIZE, HIDDEN, num_layers=2)(torch.tensor(x), hx(torch))
    with pytest.raises(RuntimeError, match=rf"{name}: hx(\[0\])? \(h_0\) must have shape "
                                           rf"\(2, 3, 5\) for input of shape \(6, 3, 4\), "
                                           rf"got \(1, 3, 5\)"):
        getattr(nn, name)(INPUT_SIZE, HIDDEN, num_layers=2)(tn.tensor(x), hx(tn))


def test_wrong_c0_shape_and_batched_h0_for_unbatched_input(torch):
    lstm = nn.LSTM(INPUT_SIZE, HIDDEN)
    x = tn.zeros(LENGTH, BATCH, INPUT_SIZE)
    with pytest.raises(RuntimeError, match=r"LSTM: hx\[1\] \(c_0\) must have shape \(1, 3, 5\) "
                                           r".*got \(1, 2, 5\)"):
        lstm(x, (tn.zeros(1, BATCH, HIDDEN), tn.zeros(1, 2, HIDDEN)))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a pair \(h_0, c_0\)"):
        lstm(x, tn.zeros(1, BATCH, HIDDEN))
    with pytest.raises(RuntimeError, match=r"GRU: hx \(h_0\) must have shape \(1, 5\) for input "
                                           r"of shape \(6, 4\), got \(1, 1, 5\)"):
        nn.GRU(INPUT_SIZE, HIDDEN)(tn.zeros(LENGTH, INPUT_SIZE), tn.zeros(1, 1, HIDDEN))


def test_wrong_ndim_is_a_value_error_like_torch(torch):
    with pytest.raises(ValueError):
        torch.nn.LSTM(INPUT_SIZE, HIDDEN)(torch.zeros(2, LENGTH, BATCH, INPUT_SIZE))
    with pytest.raises(ValueError, match=r"LSTM: expected input to be 2-D or 3-D, got 4-D "
                                         r"\(shape \(2, 6, 3, 4\)\)"):
        nn.LSTM(INPUT_SIZE, HIDDEN)(tn.zeros(2, LENGTH, BATCH, INPUT_SIZE))
    with pytest.raises(ValueError, match=r"GRUCell: expected input to be 1-D or 2-D, got 3-D"):
        nn.GRUCell(INPUT_SIZE, HIDDEN)(tn.zeros(1, BATCH, INPUT_SIZE))


def test_cell_errors_name_the_cell_argument_and_shapes(torch):
    with pytest.raises(RuntimeError):
        torch.nn.LSTMCell(INPUT_SIZE, HIDDEN)(torch.zeros(BATCH, INPUT_SIZE),
                                              (torch.zeros(BATCH, HIDDEN), torch.zeros(2, HIDDEN)))
    with pytest.raises(RuntimeError, match=r"LSTMCell: hx\[1\] must have shape \(3, 5\) for "
                                           r"input of shape \(3, 4\), got \(2, 5\)"):
        nn.LSTMCell(INPUT_SIZE, HIDDEN)(tn.zeros(BATCH, INPUT_SIZE),
                                        (tn.zeros(BATCH, HIDDEN), tn.zeros(2, HIDDEN)))
    with pytest.raises(RuntimeError, match=r"RNNCell: input has 3 features \(shape \(3,\)\) "
                                           r"but input_size is 4"):
        nn.RNNCell(INPUT_SIZE, HIDDEN)(tn.zeros(3))


@pytest.mark.parametrize("build, message", [
    (lambda: nn.RNN(4, 5, nonlinearity="sigmoid"), r"RNN: unknown nonlinearity 'sigmoid'"),
    (lambda: nn.RNNCell(4, 5, nonlinearity="gelu"), r"RNNCell: unknown nonlinearity 'gelu'"),
    (lambda: nn.LSTM(4, 5, proj_size=5), r"LSTM: proj_size \(5\) must be smaller than "
                                         r"hidden_size \(5\)"),
    (lambda: nn.GRU(4, 0), r"GRU: hidden_size must be greater than zero"),
    (lambda: nn.LSTM(4, 5, num_layers=0), r"LSTM: num_layers must be greater than zero"),
    (lambda: nn.GRU(4, 5, num_layers=2, dropout=1.5), r"GRU: dropout must be a probability"),
])
def test_bad_constructor_arguments_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_default_init_is_uniform_within_one_over_sqrt_hidden():
    hidden = 16
    lstm = nn.LSTM(8, hidden, num_layers=2, bidirectional=True)
    values = np.concatenate([p.numpy().ravel() for p in lstm.parameters()])
    bound = 1 / np.sqrt(hidden)
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.95 * bound and abs(values.mean()) < 0.05 * bound
    assert lstm.flatten_parameters() is None


def test_batch_first_only_moves_the_batch_of_the_input_and_output():
    gru = nn.GRU(INPUT_SIZE, HIDDEN, num_layers=2, bidirectional=True, batch_first=True)
    output, h_n = gru(tn.randn(BATCH, LENGTH, INPUT_SIZE), tn.zeros(4, BATCH, HIDDEN))
    assert output.shape == (BATCH, LENGTH, 2 * HIDDEN) and h_n.shape == (4, BATCH, HIDDEN)


@pytest.mark.gpu
def test_lstm_on_the_gpu_equals_the_cpu():
    lstm = nn.LSTM(INPUT_SIZE, HIDDEN, num_layers=2, bidirectional=True)
    x = np.random.default_rng(2).standard_normal((LENGTH, BATCH, INPUT_SIZE)).astype(np.float32)
    found = {}
    for device in ("cpu", "gpu"):
        lstm.to(device).zero_grad()
        xt = tn.tensor(x, requires_grad=True, device=device)
        output, (h_n, c_n) = lstm(xt)
        (output.sum() + h_n.sum() + c_n.sum()).backward()
        assert output.device == tn.device(device) and h_n.device == tn.device(device)
        found[device] = [t.cpu().numpy() for t in (output, h_n, c_n, xt.grad)] + \
            [p.grad.cpu().numpy() for p in lstm.parameters()]
    for cpu, gpu in zip(found["cpu"], found["gpu"]):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_an_empty_sequence_is_refused_as_pytorch_does(name):
    layer = getattr(nn, name)(2, 3, batch_first=True)
    with pytest.raises(RuntimeError, match=rf"{name}: expected a sequence of length at least 1, "
                                           r"got input of shape \(4, 0, 2\)"):
        layer(tn.zeros(4, 0, 2))
