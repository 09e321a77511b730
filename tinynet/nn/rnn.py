"""Recurrent layers ``RNN``, ``LSTM``, ``GRU``, and their one-step cells ``RNNCell`` etc.

    lstm = nn.LSTM(input_size=10, hidden_size=20, num_layers=2, batch_first=True)
    output, (h_n, c_n) = lstm(x)          # x (N, L, 10) -> (N, L, 20), (2, N, 20), (2, N, 20)

One step of each cell, for an input x (N, H_in) and a hidden state h (N, H); W_ih
is (G * H, H_in), W_hh (G * H, H), both biases (G * H,), with G gates stacked in
PyTorch's order (sigma is the logistic sigmoid, * the elementwise product):

    RNN  (G = 1):  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)          (or relu)
    LSTM (G = 4):  i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh)  (each (N, H))
                   c' = sigma(f) * c + sigma(i) * tanh(g)
                   h' = sigma(o) * tanh(c')       (with proj_size P: h' = W_hr h', W_hr (P, H))
    GRU  (G = 3):  r, z, n from W_ih x + b_ih  and from  W_hh h + b_hh, split alike:
                   r = sigma(x_r + h_r),  z = sigma(x_z + h_z)
                   n = tanh(x_n + r * h_n)        (the reset gate scales W_hn h + b_hn)
                   h' = (1 - z) * n + z * h

A layer runs its cell over the time steps t = 0 .. L-1 of a sequence (L, N, H_in)
(``batch_first``: (N, L, H_in); unbatched: (L, H_in)) and returns every step's h
(the output, (L, N, D * H)) and the last state of each layer and direction
(h_n: (D * num_layers, N, H)).  ``bidirectional`` (D = 2) adds a second cell per
layer that reads the sequence backwards; the two outputs are concatenated.
Layer k > 0 reads layer k-1's output, with dropout in between while training.

Parameter names are PyTorch's (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...), so its
state_dicts load by name; all start U(-1/sqrt(H), 1/sqrt(H)).  Everything is built
from differentiable ops (linear, sigmoid, tanh, stack), so backward, the GPU and
dtypes need nothing of their own.  A PackedSequence input (``nn.utils.rnn``) gives a
PackedSequence output, and h_n at each sequence's own last step (``_forward_packed``).
"""
import math
import numbers
import warnings

from . import functional as F
from . import init
from .arguments import check_size
from .module import Module
from .parameter import empty_parameter
from .utils.rnn import PackedSequence, _pack_like, pad_packed_sequence

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]


# ---------------------------------------------------------------------------
# One time step.  ``gates_x`` is the input's part W_ih x + b_ih, already computed;
# ``state`` is h, or (h, c) for the LSTM.  ``w_hr`` is the LSTM's projection (or None);
# the other steps take it too, unused, so that the layer loop calls every step alike.
# ---------------------------------------------------------------------------

def _rnn_tanh_step(gates_x, h, w_hh, b_hh, w_hr=None):
    return F.tanh(gates_x + F.linear(h, w_hh, b_hh))


def _rnn_relu_step(gates_x, h, w_hh, b_hh, w_hr=None):
    return F.relu(gates_x + F.linear(h, w_hh, b_hh))


def _lstm_step(gates_x, state, w_hh, b_hh, w_hr=None):
    h, c = state
    i, f, g, o = (gates_x + F.linear(h, w_hh, b_hh)).chunk(4, -1)
    c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
    h = F.sigmoid(o) * F.tanh(c)
    return (h if w_hr is None else F.linear(h, w_hr)), c


def _gru_step(gates_x, h, w_hh, b_hh, w_hr=None):
    x_r, x_z, x_n = gates_x.chunk(3, -1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, -1)
    r = F.sigmoid(x_r + h_r)
    z = F.sigmoid(x_z + h_z)
    n = F.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


_STEPS = {"RNN_TANH": _rnn_tanh_step, "RNN_RELU": _rnn_relu_step, "LSTM": _lstm_step,
          "GRU": _gru_step}
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn_mode(nonlinearity, class_name):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{class_name}: unknown nonlinearity {nonlinearity!r}; select from "
                         f"'tanh' or 'relu'")
    return "RNN_" + nonlinearity.upper()


def _positive_size(layer, name, value):
    if check_size(layer, name, value) == 0:
        raise ValueError(f"{layer}: {name} must be greater than zero, got 0")
    return int(value)


def _check_shape(layer, name, tensor, expected, context):
    """Raise RuntimeError naming the layer and argument when ``tensor`` is not ``expected``."""
    if tuple(tensor.shape) != tuple(expected):
        raise RuntimeError(f"{layer}: {name} must have shape {tuple(expected)} {context}, got "
                           f"{tuple(tensor.shape)}")


def _check_input(layer, input, input_size, dims):
    """The input must have one of ``dims`` dimensions and ``input_size`` features."""
    if input.ndim not in dims:
        raise ValueError(f"{layer}: expected input to be {' or '.join(f'{d}-D' for d in dims)}, "
                         f"got {input.ndim}-D (shape {tuple(input.shape)})")
    if input.shape[-1] != input_size:
        raise RuntimeError(f"{layer}: input has {input.shape[-1]} features (shape "
                           f"{tuple(input.shape)}) but input_size is {input_size}")


def _zeros(shape, like):
    """Zeros of ``shape`` in the dtype and on the device of ``like`` (a default state)."""
    return F.zeros(shape, dtype=like.dtype, device=like.device)


def _check_pair(layer, hx):
    """The LSTM's state is a pair (h, c)."""
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError(f"{layer}: hx must be a pair (h_0, c_0), got {type(hx).__name__}")


def _keep_ended(running, new, old):
    """The ``new`` state where ``running`` (N, 1) is True, else the ``old`` one (packed input)."""
    if isinstance(new, tuple):
        return tuple(F.where(running, n, o) for n, o in zip(new, old))
    return F.where(running, new, old)


def _uniform_init(module):
    """PyTorch's init of every recurrent weight and bias: U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(module.hidden_size)
    for param in module.parameters():
        init.uniform_(param, -bound, bound)


# ---------------------------------------------------------------------------
# The layers
# ---------------------------------------------------------------------------

class RNNBase(Module):
    """What RNN, LSTM and GRU share: the weights of every layer and direction, and the loop."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                 device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        self.mode = mode
        self.input_size = _positive_size(name, "input_size", input_size)
        self.hidden_size = _positive_size(name, "hidden_size", hidden_size)
        self.num_layers = _positive_size(name, "num_layers", num_layers)
        self.proj_size = check_size(name, "proj_size", proj_size)
        if proj_size and proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size ({proj_size}) must be smaller than hidden_size "
                             f"({hidden_size})")
        self._check_dropout(dropout)
        self.bias, self.batch_first = bias, batch_first
        self.dropout, self.bidirectional = float(dropout), bidirectional
        for layer in range(self.num_layers):
            for suffix in self._suffixes():
                self._add_weights(layer, suffix, device, dtype)
        self.reset_parameters()

    def _check_dropout(self, dropout):
        name = type(self).__name__
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout!r}")
        if dropout > 0 and self.num_layers == 1:
            warnings.warn(f"{name}: dropout is applied between layers, so dropout={dropout} has "
                          f"no effect with num_layers=1", stacklevel=4)

    def _suffixes(self):
        """The parameter-name suffix of each direction: "" forward, "_reverse" backward."""
        return ("", "_reverse") if self.bidirectional else ("",)

    @property
    def _state_size(self):
        """The size of h (and so of the output per direction): proj_size if set, else hidden."""
        return self.proj_size or self.hidden_size

    def _add_weights(self, layer, suffix, device, dtype):
        gates = _GATES[self.mode] * self.hidden_size
        inputs = self.input_size if layer == 0 else self._state_size * len(self._suffixes())
        shapes = {"weight_ih": (gates, inputs), "weight_hh": (gates, self._state_size)}
        if self.bias:
            shapes.update(bias_ih=(gates,), bias_hh=(gates,))
        if self.proj_size:
            shapes["weight_hr"] = (self.proj_size, self.hidden_size)
        for kind, shape in shapes.items():
            setattr(self, f"{kind}_l{layer}{suffix}", empty_parameter(shape, device, dtype))

    def _weights(self, layer, suffix):
        """(w_ih, w_hh, b_ih, b_hh, w_hr) of one layer and direction; None where absent."""
        return tuple(getattr(self, f"{kind}_l{layer}{suffix}", None)
                     for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))

    def reset_parameters(self):
        _uniform_init(self)

    def flatten_parameters(self):
        """A no-op: PyTorch packs the weights into one buffer for cuDNN; tinynet has no need."""

    def forward(self, input, hx=None):
        """input (L, N, H_in) (batch_first: (N, L, H_in); unbatched: (L, H_in); or a
        PackedSequence) and optional initial states -> (output, h_n), or (output, (h_n, c_n))
        for the LSTM."""
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        unbatched = input.ndim == 2
        x = self._sequence_first(input)
        output, finals = self._run_layers(x, self._initial_states(input, x, hx))
        return self._results(output, finals, unbatched)

    def _forward_packed(self, packed, hx):
        """A PackedSequence -> (PackedSequence, h_n), h_n (and c_n) in the caller's batch order.

        The data is padded back to (L, N, H_in) in the caller's order (so hx and h_n need no
        reordering) and runs the padded loop, except that a sequence keeps its state at the
        steps past its end: h = where(t < length, new h, old h).  Its h_n is then its state
        at its own last step, and the reverse direction starts from h_0 at that step.
        PyTorch instead shrinks the batch to batch_sizes[t] rows at step t; masking wastes
        the padded steps' arithmetic but keeps one loop, with no per-step slicing and
        re-joining of the states.
        """
        x, lengths = pad_packed_sequence(packed)
        _check_input(type(self).__name__, x, self.input_size, (3,))
        running = F.arange(x.shape[0], device=x.device)[:, None] < lengths.to(x.device)
        output, finals = self._run_layers(x, self._initial_states(x, x, hx),
                                          running.unsqueeze(-1).unbind(0))
        return _pack_like(output, packed), self._results(output, finals, False)[1]

    def _run_layers(self, x, states, running=None):
        """Every layer and direction over x (L, N, H_in): (output (L, N, D * H), the final
        states); ``running``: L masks (N, 1), True where a sequence has not ended."""
        finals = []
        for layer in range(self.num_layers):
            if layer > 0:       # dropout on every layer's output but the last
                x = F.dropout(x, self.dropout, self.training)
            outputs = []
            for direction, suffix in enumerate(self._suffixes()):
                state = states[layer * len(self._suffixes()) + direction]
                output, state = self._run_direction(x, state, self._weights(layer, suffix),
                                                    direction == 1, running)
                outputs.append(output)
                finals.append(state)
            x = outputs[0] if len(outputs) == 1 else F.cat(outputs, -1)
        return x, finals

    def _sequence_first(self, input):
        """The input as (L, N, H_in), after checking its dimensions and features."""
        _check_input(type(self).__name__, input, self.input_size, (2, 3))
        x = input.unsqueeze(1) if input.ndim == 2 else \
            input.transpose(0, 1) if self.batch_first else input
        if x.shape[0] == 0:
            raise RuntimeError(f"{type(self).__name__}: expected a sequence of length at least "
                               f"1, got input of shape {tuple(input.shape)}")
        return x

    def _run_direction(self, x, state, weights, reverse, running=None):
        """Run one cell over x (L, N, H_in) from ``state``: ((L, N, H) outputs, last state)."""
        w_ih, w_hh, b_ih, b_hh, w_hr = weights
        step = _STEPS[self.mode]
        # The input's part of the gates does not depend on the hidden state, so it is one
        # matmul for the whole sequence, (L * N, H_in) x (H_in, G * H), instead of L small
        # ones inside the loop: far fewer calls (GPU kernel launches) and a better-shaped
        # product.  Only the hidden state's part has to wait for the previous step.
        gates_x = F.linear(x, w_ih, b_ih).unbind(0)
        outputs = [None] * len(gates_x)
        for t in (reversed(range(len(gates_x))) if reverse else range(len(gates_x))):
            new = step(gates_x[t], state, w_hh, b_hh, w_hr)
            state = new if running is None else _keep_ended(running[t], new, state)
            outputs[t] = state[0] if self.mode == "LSTM" else state
        return F.stack(outputs, 0), state

    def _initial_states(self, input, x, hx):
        """The initial state of each layer and direction: a list of h, or of (h, c) for the LSTM."""
        layers, batch = self.num_layers * len(self._suffixes()), x.shape[1]
        shapes = {"h_0": (layers, batch, self._state_size)}
        if self.mode == "LSTM":
            shapes["c_0"] = (layers, batch, self.hidden_size)
        if hx is None:
            given = [_zeros(shape, like=x) for shape in shapes.values()]
        elif self.mode == "LSTM":
            _check_pair(type(self).__name__, hx)
            given = [self._given_state(hx[i], f"hx[{i}] ({name})", shape, input)
                     for i, (name, shape) in enumerate(shapes.items())]
        else:
            given = [self._given_state(hx, "hx (h_0)", shapes["h_0"], input)]
        per_layer = [t.unbind(0) for t in given]    # (D * num_layers, N, H) -> (N, H) each
        return list(zip(*per_layer)) if self.mode == "LSTM" else list(per_layer[0])

    def _given_state(self, tensor, label, shape, input):
        """A given h_0 or c_0 checked to be ``shape`` (D * num_layers, N, H), or
        (D * num_layers, H) for unbatched input; returned 3-D."""
        unbatched = input.ndim == 2
        _check_shape(type(self).__name__, label, tensor, (shape[0], shape[2]) if unbatched
                     else shape, f"for input of shape {tuple(input.shape)}")
        return tensor.unsqueeze(1) if unbatched else tensor

    def _results(self, output, finals, unbatched):
        """(output, h_n) or (output, (h_n, c_n)) in the caller's layout."""
        if self.mode == "LSTM":
            hidden = (F.stack([h for h, _ in finals], 0), F.stack([c for _, c in finals], 0))
        else:
            hidden = (F.stack(finals, 0),)
        if unbatched:
            output, hidden = output.squeeze(1), tuple(t.squeeze(1) for t in hidden)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, (hidden if self.mode == "LSTM" else hidden[0])

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = (("proj_size", 0), ("num_layers", 1), ("bias", True), ("batch_first", False),
                    ("dropout", 0), ("bidirectional", False))
        for name, default in defaults:
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text


class RNN(RNNBase):
    """Elman RNN, h' = tanh (or relu) of (W_ih x + b_ih + W_hh h + b_hh); returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__(_rnn_mode(nonlinearity, "RNN"), input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, device, dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory; ``forward(input, (h_0, c_0))`` returns (output, (h_n, c_n)).

    With ``proj_size`` P > 0, h is projected to P features by ``weight_hr_l{k}`` (P, H)
    at each step: the output and h_n have P features, c_n keeps hidden_size.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (reset gate r, update gate z); returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, device, dtype)


# ---------------------------------------------------------------------------
# The cells: one time step, (N, H_in) or (H_in,) and the state -> the next state
# ---------------------------------------------------------------------------

class RNNCellBase(Module):
    """What the cells share: weight_ih (G * H, H_in), weight_hh (G * H, H), the biases."""

    def __init__(self, mode, input_size, hidden_size, bias, device, dtype):
        super().__init__()
        name = type(self).__name__
        self.mode = mode
        self.input_size = _positive_size(name, "input_size", input_size)
        self.hidden_size = _positive_size(name, "hidden_size", hidden_size)
        self.bias = bias
        gates = _GATES[mode] * hidden_size
        self.weight_ih = empty_parameter((gates, input_size), device, dtype)
        self.weight_hh = empty_parameter((gates, hidden_size), device, dtype)
        for kind in ("bias_ih", "bias_hh"):
            if bias:
                setattr(self, kind, empty_parameter((gates,), device, dtype))
            else:
                self.register_parameter(kind, None)
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_init(self)

    def forward(self, input, hx=None):
        """input (N, H_in) or (H_in,) and the state (None: zeros) -> the next state."""
        name = type(self).__name__
        _check_input(name, input, self.input_size, (1, 2))
        unbatched = input.ndim == 1
        x = input.unsqueeze(0) if unbatched else input
        state = self._state(input, x, hx, unbatched)
        state = _STEPS[self.mode](F.linear(x, self.weight_ih, self.bias_ih), state,
                                  self.weight_hh, self.bias_hh)
        if self.mode != "LSTM":
            return state.squeeze(0) if unbatched else state
        return tuple(t.squeeze(0) for t in state) if unbatched else state

    def _state(self, input, x, hx, unbatched):
        """hx (or (h, c)) checked and made (N, H); zeros where it is None."""
        shape = (x.shape[0], self.hidden_size)
        if hx is None:
            zeros = _zeros(shape, like=x)
            return (zeros, zeros) if self.mode == "LSTM" else zeros
        if self.mode == "LSTM":
            _check_pair(type(self).__name__, hx)
        given = list(hx) if self.mode == "LSTM" else [hx]
        for i, tensor in enumerate(given):
            label = f"hx[{i}]" if self.mode == "LSTM" else "hx"
            _check_shape(type(self).__name__, label, tensor, shape[1:] if unbatched else shape,
                         f"for input of shape {tuple(input.shape)}")
        given = [t.unsqueeze(0) if unbatched else t for t in given]
        return tuple(given) if self.mode == "LSTM" else given[0]

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = tanh (or relu) of (W_ih x + b_ih + W_hh h + b_hh)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        super().__init__(_rnn_mode(nonlinearity, "RNNCell"), input_size, hidden_size, bias,
                         device, dtype)
        self.nonlinearity = nonlinearity


class LSTMCell(RNNCellBase):
    """One LSTM step: ``cell(x, (h, c))`` returns (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)


class GRUCell(RNNCellBase):
    """One GRU step: ``cell(x, h)`` returns h'."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)
