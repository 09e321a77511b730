"""tinynet.autograd, the engine: graph recording, accumulation, no_grad, deep graphs, freeing,
errors."""
import gc
import weakref

import numpy as np
import pytest

import tinynet as tn
from tinynet import backend
from tinynet.autograd import Function


def test_gradient_accumulates_when_a_tensor_is_used_twice():
    x = tn.tensor(np.array([2.0, -1.0]), requires_grad=True)
    y = x * x + x        # dy/dx = 2x + 1
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [5.0, -1.0])


def test_diamond_graph_sums_both_paths():
    x = tn.tensor(np.array(3.0), requires_grad=True)
    a = x * 2
    b = x * 3
    (a * b).backward()   # d(6x^2)/dx = 12x
    assert x.grad.item() == pytest.approx(36.0)


def test_grad_accumulates_across_backward_calls_until_zeroed():
    x = tn.tensor(np.ones(3), requires_grad=True)
    (x * 2).sum().backward()
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 4.0, 4.0])
    x.zero_grad()
    assert x.grad is None


def test_leaf_gradients_do_not_alias_each_other():
    # add returns the same array for both inputs; an in-place update of one
    # leaf's grad (as an optimizer does) must not change the other's.
    a = tn.tensor(np.zeros(3), requires_grad=True)
    b = tn.tensor(np.zeros(3), requires_grad=True)
    (a + b).sum().backward()
    a.grad.data *= 10
    np.testing.assert_array_equal(b.grad.data, np.ones(3))


def test_no_grad_builds_no_graph():
    x = tn.tensor(np.ones(3), requires_grad=True)
    with tn.no_grad():
        y = x * 2 + 1
    assert y.grad_fn is None and not y.requires_grad
    assert tn.is_grad_enabled()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_restores_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with tn.no_grad():
            1 / 0
    assert tn.is_grad_enabled()


def test_inputs_without_requires_grad_record_nothing():
    y = tn.tensor(np.ones(3)) * 2
    assert y.grad_fn is None


def test_chain_of_10000_ops_backpropagates_without_recursion():
    x = tn.tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 10_000, rel=1e-9)


def test_backward_on_non_scalar_needs_a_gradient():
    x = tn.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"scalar output, got shape \(2, 3\)"):
        y.backward()
    y.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad.data, np.full((2, 3), 2.0))


def test_backward_gradient_shape_is_checked():
    y = tn.tensor(np.ones(3), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"gradient shape \(2,\) does not match output shape \(3,\)"):
        y.backward(np.ones(2))


def test_graph_is_freed_after_backward_unless_retained():
    x = tn.tensor(np.ones(3), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()                              # second pass works: graph was kept
    np.testing.assert_array_equal(x.grad.data, np.full(3, 4.0))
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()                          # now it was freed


def test_saved_arrays_are_released_after_backward():
    x = tn.tensor(np.ones(1000), requires_grad=True)
    e = x.exp()                               # Exp saves its output for backward
    exp_fn = e.grad_fn
    e.sum().backward()
    assert not hasattr(exp_fn, "y")


def test_unused_graph_is_garbage_collected():
    x = tn.tensor(np.ones(1000), requires_grad=True)
    e = x.exp()
    saved = weakref.ref(e.grad_fn.y)
    del e
    gc.collect()
    assert saved() is None


def test_detach_cuts_the_graph():
    x = tn.tensor(np.ones(2), requires_grad=True)
    y = (x * 3).detach() * x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])  # no gradient through the detached branch


def test_wrong_device_name_is_a_clear_error():
    with pytest.raises(backend.DeviceError, match="unknown device 'tpu'"):
        tn.tensor([1.0], device="tpu")


def test_gpu_without_cupy_or_gpu_says_what_is_missing(without_cupy):
    with pytest.raises(backend.DeviceError, match="device 'gpu'"):
        tn.tensor([1.0], device="gpu")


def test_python_floats_default_to_float32_and_numpy_keeps_dtype():
    assert tn.tensor([1.0, 2.0]).dtype == np.float32
    assert tn.tensor(np.zeros(2)).dtype == np.float64
    assert tn.tensor([1, 2]).dtype.kind == "i"


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype"):
        tn.tensor([1, 2], requires_grad=True)


def test_custom_function_returning_wrong_gradient_shape_is_reported():
    class Broken(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy[:1]

    x = tn.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Broken.backward returned a gradient of shape \(1,\)"):
        Broken()(x).sum().backward()


def test_gradcheck_reports_the_worst_element():
    class WrongSquare(Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, gy):
            return gy * self.x  # should be 2x

    x = tn.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    with pytest.raises(tn.GradcheckError,
                       match=r"input 0 \(shape \(3,\)\) at element \(2,\): analytic"):
        tn.gradcheck(lambda t: WrongSquare()(t), [x])


def test_gradcheck_large_input_uses_random_directions():
    x = tn.tensor(np.random.default_rng(0).standard_normal((20, 20)), requires_grad=True)
    assert tn.gradcheck(lambda t: (t * t).sum(axis=0), [x])


def test_gradcheck_refuses_float32():
    x = tn.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        tn.gradcheck(lambda t: t * 2, [x])


# ---------------------------------------------------------------------------
# Grad-mode switches
# ---------------------------------------------------------------------------

def test_no_grad_is_also_a_decorator_with_or_without_parentheses():
    x = tn.ones(2, requires_grad=True)

    @tn.no_grad()
    def with_parentheses():
        return (x * 2).requires_grad

    @tn.no_grad
    def bare():
        return (x * 2).requires_grad

    assert with_parentheses() is False and bare() is False
    assert (x * 2).requires_grad and tn.is_grad_enabled()


def test_set_grad_enabled_as_a_call_and_as_a_block():
    x = tn.ones(2, requires_grad=True)
    with tn.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with tn.enable_grad():
            assert (x * 2).requires_grad
    assert tn.is_grad_enabled()
    tn.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        tn.set_grad_enabled(True)
    with tn.inference_mode():
        assert not (x * 2).requires_grad
    with tn.inference_mode(False):
        assert (x * 2).requires_grad



def test_set_grad_enabled_as_a_decorator_switches_only_inside_the_call():
    """As in PyTorch, ``@set_grad_enabled(False)`` leaves the mode around it unchanged
    (creating the object switches it; decorating switches it back)."""
    x = tn.ones(2, requires_grad=True)

    @tn.set_grad_enabled(False)
    def without_graph():
        return (x * 2).requires_grad, tn.is_grad_enabled()

    assert tn.is_grad_enabled() and (x * 2).requires_grad
    assert without_graph() == (False, False)
    assert tn.is_grad_enabled()
    with tn.no_grad():
        @tn.set_grad_enabled(True)
        def with_graph():
            return (x * 2).requires_grad

        assert not tn.is_grad_enabled()
        assert with_graph() is True
        assert not tn.is_grad_enabled()

def test_detect_anomaly_names_the_function_whose_backward_made_a_nan():
    """Off by default (the nan flows into .grad); on, the first NaN gradient raises."""
    x = tn.tensor(np.array([0.0, 1.0]), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        (x / x).sum().backward()
        assert np.isnan(x.grad.numpy()[0])
        x.grad = None
        with tn.autograd.detect_anomaly():
            assert tn.autograd.is_anomaly_enabled() and tn.is_anomaly_enabled()
            with pytest.raises(RuntimeError, match=r"Function 'Div' returned nan values in its "
                                                   r"gradient for input 1"):
                (x / x).sum().backward()
            (x * 2).sum().backward()                     # finite: nothing raised
        assert not tn.autograd.is_anomaly_enabled()
        unused = tn.autograd.detect_anomaly()           # on only inside a with block
        assert not tn.autograd.is_anomaly_enabled() and unused is not None
        tn.autograd.set_detect_anomaly(True)
        try:
            with pytest.raises(RuntimeError, match="returned nan values"):
                (x / x).sum().backward()
        finally:
            tn.autograd.set_detect_anomaly(False)


def test_variable_is_a_new_leaf_on_the_same_data(torch):
    """Old code's ``Variable(t, requires_grad=True)``, as PyTorch runs it today."""
    for lib in (torch, tn):
        t = lib.ones(2)
        v = lib.autograd.Variable(t, requires_grad=True)
        assert v is not t and v.requires_grad and not t.requires_grad and v.is_leaf
        with lib.no_grad():
            v.add_(1)
        assert t.tolist() == [2.0, 2.0]


def test_the_in_place_twins_follow_the_in_place_rules():
    """x.exp_() & co.: a leaf that requires grad is refused outside no_grad, a non-leaf's
    change is recorded (the gradient goes through it), an int tensor cannot take a float."""
    leaf = tn.tensor(np.array([0.5, 1.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match="exp_: a leaf Variable that requires grad"):
        leaf.exp_()
    y = leaf * 2
    y.exp_()
    y.sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), 2 * np.exp([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="sqrt_: result type float32 can't be cast"):
        tn.tensor([4, 9]).sqrt_()


def test_bernoulli_fills_with_seeded_draws():
    tn.manual_seed(3)
    a = tn.empty(200, 100).bernoulli_(0.3)
    tn.manual_seed(3)
    b = tn.empty(200, 100).bernoulli_(0.3)
    assert set(np.unique(a.numpy())) == {0.0, 1.0} and a.dtype == np.float32
    assert abs(a.numpy().mean() - 0.3) < 0.01 and np.array_equal(a.numpy(), b.numpy())
    per_row = tn.empty(2, 3).bernoulli_(tn.tensor([[0.0], [1.0]]).expand(2, 3))
    assert per_row.tolist() == [[0.0] * 3, [1.0] * 3]


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = tn.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 3
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_array_equal(y.grad.data, [6.0, 12.0])     # d(y^2)/dy = 2y
    np.testing.assert_array_equal(x.grad.data, [18.0, 36.0])


# ---------------------------------------------------------------------------
# In-place operations
# ---------------------------------------------------------------------------

def test_in_place_on_a_leaf_that_requires_grad_needs_no_grad():
    w = tn.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used "
                                           "in an in-place operation"):
        w.add_(1)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w[0] = 5.0
    (w * w).sum().backward()
    with tn.no_grad():
        w -= 0.5 * w.grad          # the manual SGD step of PyTorch tutorials
        w.grad.zero_()
    assert w.is_leaf and w.requires_grad
    np.testing.assert_array_equal(w.data, [0.0, 0.0])
    np.testing.assert_array_equal(w.grad.data, [0.0, 0.0])


def test_in_place_without_graph_writes_into_the_array_so_views_see_it():
    x = tn.zeros(2, 3)
    row = x[0]
    x.add_(1)
    x[:, 0] = 7.0
    x[x > 5] -= 1                   # __getitem__, __isub__, then __setitem__
    assert row.tolist() == [6.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="result type float32 can't be cast to the desired "
                                           "output type int64"):
        tn.tensor([1, 2]).add_(1.5)
    with pytest.raises(RuntimeError, match=r"output with shape \(3,\) doesn't match the "
                                           r"broadcast shape \(2, 3\)"):
        tn.zeros(3).add_(tn.ones(2, 3))


def test_in_place_on_a_graph_tensor_keeps_every_gradient_right():
    x = tn.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2
    z = y * y              # saved y (= 2x) for its backward
    y.add_(1)              # y is now 2x + 1 and the output of Add
    w = y * 3
    (z + w).sum().backward()
    # dz/dx = 2 (2x) 2 = 8x, dw/dx = 3 * 2 = 6
    np.testing.assert_array_equal(x.grad.data, 8 * np.array([1.0, 2.0]) + 6)


def test_setitem_with_a_value_that_requires_grad_records_the_graph():
    def unrolled(h0, write_into_buffer):
        h, states = h0, []
        outputs = tn.zeros(3, 2)
        for t in range(3):
            h = (h * 2).tanh()
            if write_into_buffer:
                outputs[t] = h            # the RNN-tutorial way
            states.append(h)
        return outputs if write_into_buffer else tn.stack(states)

    weights = tn.tensor(np.arange(6.0).reshape(3, 2))
    grads = []
    for write in (True, False):
        h0 = tn.tensor(np.array([0.5, -1.0]), requires_grad=True)
        out = unrolled(h0, write)
        assert out.requires_grad and not out.is_leaf
        (out * weights).sum().backward()
        grads.append(h0.grad.data)
    np.testing.assert_allclose(grads[0], grads[1])
    assert np.abs(grads[0]).min() > 0


# ---------------------------------------------------------------------------
# Tensor as a Python object
# ---------------------------------------------------------------------------

def test_tensors_hash_by_identity_and_compare_elementwise():
    a, b = tn.ones(2), tn.ones(2)
    assert (a == b).tolist() == [True, True] and (a != b).dtype == np.bool_
    assert len({a: 1, b: 2}) == 2 and a in [a] and (a == None) is False  # noqa: E711
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value "
                                           "is ambiguous"):
        bool(a == b)
    assert bool(tn.tensor([3.0]) > 2)


def test_conversions_to_python_numbers():
    x = tn.tensor(2.5)
    assert float(x) == 2.5 and int(x) == 2 and f"{x:.2f}" == "2.50" and x.item() == 2.5
    assert list(range(tn.tensor(3))) == [0, 1, 2]
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted"):
        tn.ones(2).item()
    with pytest.raises(ValueError, match="only one element tensors can be converted"):
        float(tn.ones(2))
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(x)


def test_tensor_refuses_strings_none_and_ragged_lists():
    with pytest.raises(ValueError, match=r"tensors hold numbers and bools only, got a value of "
                                         r"type str \('a'\)"):
        tn.tensor(["a", "b"])
    with pytest.raises(TypeError, match="got a value of type NoneType"):
        tn.tensor([1.0, None])
    with pytest.raises(TypeError, match="could not infer a dtype from None"):
        tn.tensor(None)
    with pytest.raises(ValueError, match="the nested sequence is not rectangular"):
        tn.tensor([[1, 2], [3]])
    with pytest.raises(TypeError, match="tensors hold numbers and bools only"):
        tn.tensor(np.array([1, None], dtype=object))


def test_tensor_copies_while_from_numpy_and_as_tensor_share():
    array = np.zeros(3, dtype=np.float32)
    copied, shared, also_shared = tn.tensor(array), tn.from_numpy(array), tn.as_tensor(array)
    array[0] = 1.0
    assert copied.tolist()[0] == 0.0 and shared.tolist()[0] == 1.0
    assert also_shared.tolist()[0] == 1.0
    assert tn.is_tensor(copied) and not tn.is_tensor(array)
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        tn.from_numpy([1.0])


def test_device_objects_are_device_names():
    device = tn.device("cuda:0")
    assert device == "gpu" and device.type == "cuda" and device.index == 0
    assert repr(tn.device("cpu")) == "device(type='cpu')"
    x = tn.ones(2).to(tn.device("cpu"))
    assert x.device == "cpu" and x.device.type == "cpu"
    assert isinstance(tn.cuda.is_available(), bool)


def test_importing_any_module_first_gives_tensors_all_their_methods():
    import subprocess
    import sys
    for first in ("tinynet.autograd", "tinynet.ops.math", "tinynet.nn.functional"):
        code = (f"import {first}\nfrom tinynet.autograd import Tensor\n"
                "x = Tensor([[1.0, 2.0]])\nprint((x.sum(dim=1) + x.T.sum()).tolist())")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True)
        assert result.stdout.strip() == "[6.0]"


# ---------------------------------------------------------------------------
# autograd.grad and PyTorch-style Functions
# ---------------------------------------------------------------------------

def test_autograd_grad_returns_gradients_and_touches_no_grad_attribute():
    x = tn.tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = tn.tensor(np.array([3.0, 4.0]), requires_grad=True)
    y = x * x
    z = (y * w).sum()
    gx, gy = tn.autograd.grad(z, [x, y], retain_graph=True)
    np.testing.assert_array_equal(gx.data, [6.0, 16.0])     # 2 x w
    np.testing.assert_array_equal(gy.data, [3.0, 4.0])      # w
    assert x.grad is None and w.grad is None
    (g,) = tn.autograd.grad([z, x.sum()], x)                # several outputs add up
    np.testing.assert_array_equal(g.data, [7.0, 17.0])
    unused = tn.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad: input 1 .* was not used"):
        tn.autograd.grad((x * 2).sum(), [x, unused])
    assert tn.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)[1] is None


def test_pytorch_style_function_with_ctx():
    class Cube(tn.autograd.Function):
        @staticmethod
        def forward(ctx, input, scale):
            ctx.save_for_backward(input)
            ctx.scale = scale
            return scale * input ** 3

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * 3 * ctx.scale * input ** 2, None

    x = tn.tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = Cube.apply(x, 0.5)
    np.testing.assert_array_equal(y.data, [0.5, -4.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.5, 6.0])
    assert tn.gradcheck(lambda t: Cube.apply(t, 2.0), [tn.tensor(np.array([0.3, 1.2]),
                                                                 requires_grad=True)])


def test_tensor_hooks_see_and_may_replace_gradients():
    x = tn.tensor(np.array([1.0, 2.0]), requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.tolist()))
    y = x * 3
    y.register_hook(lambda g: g * 10)        # replaces y's gradient on its way down
    y.retain_grad()
    y.sum().backward()
    assert seen == [[30.0, 30.0]] and y.grad.tolist() == [10.0, 10.0]
    np.testing.assert_array_equal(x.grad.data, [30.0, 30.0])
    handle.remove()
    x.grad = None
    (x * 1).sum().backward()
    assert seen == [[30.0, 30.0]] and y.retains_grad
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        tn.ones(2).register_hook(print)


def test_a_leaf_hook_runs_once_on_the_summed_gradient(torch):
    """As in PyTorch: a leaf used three times gets its hook called once, on the total, and
    a replacing hook replaces the total (not each share)."""
    for lib in (tn, torch):
        calls = []
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        x.register_hook(lambda g: calls.append(g.tolist()))
        (x * x + x).sum().backward()
        assert calls == [[3.0, 5.0]], lib.__name__
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        x.register_hook(lambda g: lib.ones_like(g))
        (x + x).sum().backward()
        assert x.grad.tolist() == [1.0, 1.0], lib.__name__


def test_grad_on_a_freed_graph_says_so_and_leaves_no_watch_behind():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.sum().backward()                             # frees y's grad_fn
    with pytest.raises(RuntimeError, match="backward through a graph a second time"):
        tn.autograd.grad((y * 3).sum(), y)
    y = x * 2
    z = (y * y).sum()
    (gy,) = tn.autograd.grad(z, y, retain_graph=True)
    assert gy.tolist() == [4.0, 8.0] and y.grad_fn.watched_outputs == {}
    x.grad = None
    z.backward()                                   # the graph is as before grad()
    assert y.grad is None and x.grad.tolist() == [8.0, 16.0]


def test_grad_needs_one_gradient_per_output():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    outputs = [(x * 2).sum(), (x * 3).sum()]
    with pytest.raises(RuntimeError, match="got 2 outputs and 1 grad_outputs"):
        tn.autograd.grad(outputs, [x], grad_outputs=[None])
    with pytest.raises(RuntimeError, match=r"^grad\(\) without grad_outputs needs a scalar"):
        tn.autograd.grad(x * 2, [x])


def test_a_detached_tensor_gets_no_gradient_from_its_old_graph():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = (y * y).sum()
    y.register_hook(lambda g: None)
    y.detach_()
    z.backward()
    assert y.grad is None and x.grad.tolist() == [8.0, 16.0]


def test_a_function_object_is_used_once():
    """Calling a recorded Function object again would overwrite its edges and send the
    first call's gradients to the second call's inputs: it is refused."""
    square = tn.ops.activation.Sigmoid()
    a = tn.tensor([1.0], requires_grad=True)
    square(a)
    with pytest.raises(RuntimeError, match="a Function object is used once"):
        square(tn.tensor([2.0], requires_grad=True))


def _events_of_a_two_layer_backward(lib):
    """The order in which a two-layer net's backward runs its first layer's backward and
    the post-accumulate hooks of both layers' weights."""
    events = []

    class Tracked(lib.autograd.Function):          # identity that logs its backward
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            events.append("first layer backward")
            return grad

    w1 = lib.tensor([[0.5, -1.0], [2.0, 1.0]], requires_grad=True)
    w2 = lib.tensor([[1.0], [3.0]], requires_grad=True)
    w1.register_post_accumulate_grad_hook(lambda p: events.append(("w1", p.grad.tolist())))
    w2.register_post_accumulate_grad_hook(lambda p: events.append(("w2", p.grad.tolist())))
    x = lib.tensor([[1.0, 2.0]])
    hidden = Tracked.apply(x @ w1)
    (hidden @ w2).sum().backward()
    return events


def test_post_accumulate_grad_hooks_run_as_each_leaf_is_ready(torch):
    """A weight's hook runs once its .grad is complete, during the walk: the last layer's
    before the first layer's backward has run (what lets DDP overlap its all-reduce)."""
    ours, theirs = _events_of_a_two_layer_backward(tn), _events_of_a_two_layer_backward(torch)
    assert ours == theirs
    assert ours.index(("w2", [[4.5], [1.0]])) < ours.index("first layer backward")
    x = tn.tensor([1.0], requires_grad=True)
    handle = x.register_post_accumulate_grad_hook(lambda p: pytest.fail("removed hook ran"))
    handle.remove()
    (x * 2).sum().backward()
    with pytest.raises(RuntimeError, match="cannot be registered on non-leaf tensors"):
        (x * 2).register_post_accumulate_grad_hook(print)


def test_a_leaf_used_by_many_functions_gets_one_post_accumulate_call():
    calls = []
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    x.register_post_accumulate_grad_hook(lambda p: calls.append(p.grad.tolist()))
    (x * x + x.exp() + x).sum().backward()
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], 2 * np.array([1.0, 2.0]) + np.exp([1.0, 2.0]) + 1,
                               rtol=1e-6)


def test_grad_mode_is_per_thread():
    """As in PyTorch: no_grad() in one thread (a DataLoader worker) leaves recording on in
    the others, and a new thread starts with recording on."""
    import threading
    inside, other_thread = threading.Event(), {}

    def worker():
        with tn.no_grad():
            inside.set()
            release.wait(5)
        other_thread["enabled"] = tn.is_grad_enabled()

    release = threading.Event()
    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(5)
    try:
        assert tn.is_grad_enabled()
        assert (tn.ones(2, requires_grad=True) * 2).requires_grad
    finally:
        release.set()
        thread.join(5)
    assert other_thread == {"enabled": True}
    with tn.no_grad():
        seen = []
        thread = threading.Thread(target=lambda: seen.append(tn.is_grad_enabled()))
        thread.start()
        thread.join(5)
        assert seen == [True] and not tn.is_grad_enabled()


def test_numpy_array_of_a_tensor_copies_and_asarray_shares():
    """NumPy's protocol: np.array(t) is a copy (it was the tensor's own memory, so a copy
    kept of a model's state changed with the model), np.asarray(t) shares a CPU tensor's."""
    t = tn.ones(3)
    copied = np.array(t)
    copied[0] = 5
    assert t.tolist() == [1.0, 1.0, 1.0]
    shared = np.asarray(t)
    shared[1] = 7
    assert t.tolist() == [1.0, 7.0, 1.0]
    assert np.array(t, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="a copy is needed"):
        t.__array__(np.float64, copy=False)
