"""Everyday PyTorch code, run twice: once with ``lib = torch``, once with ``lib = tinynet``.

Each idiom below is a snippet of the kind PyTorch tutorials are made of (the
"Tensors", "Autograd", "Build the model" and "Optimization" tutorials, the
CIFAR-10 classifier, d2l's from-scratch models, attention blocks), written
once against ``lib``.  It returns what a tutorial would print; both runs must
give the same values, shapes and dtypes (see torch_parity.py).  Random inputs
come from NumPy, and models get the same weights in both libraries through
``set_weights``, which itself uses only PyTorch's API.
"""
import math

import numpy as np
import pytest

from torch_parity import assert_same

IDIOMS = {}


def idiom(function):
    IDIOMS[function.__name__] = function
    return function


def data(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def labels(n, classes, seed=0):
    return np.random.default_rng(seed).integers(0, classes, n)


def set_weights(lib, model, seed=0):
    """The same parameter values in both libraries, set the PyTorch way."""
    rng = np.random.default_rng(seed)
    with lib.no_grad():
        for _, p in model.named_parameters():
            p.copy_(lib.tensor(rng.uniform(-0.3, 0.3, tuple(p.shape)).astype(np.float32)))
    return model


# ---------------------------------------------------------------------------
# The "Tensors" tutorial
# ---------------------------------------------------------------------------

@idiom
def tensor_creation(lib):
    d = [[1, 2], [3, 4]]
    x_data = lib.tensor(d)
    x_np = lib.from_numpy(np.array(d))
    x_ones = lib.ones_like(x_data)
    x_float = lib.zeros_like(x_data, dtype=lib.float)
    shape = (2, 3,)
    return [x_data, x_np, x_ones, x_float, lib.ones(shape), lib.zeros(shape), lib.zeros(2, 3),
            lib.rand(shape).shape, lib.rand(2, 3).dtype == lib.float32,
            lib.full((2, 2), 7.0), lib.full((2,), 3), lib.eye(3), lib.arange(5),
            lib.arange(1, 2.5, 0.5), lib.linspace(0, 1, steps=5), lib.tensor(3.5),
            lib.tensor([True, False]), lib.tensor([]).shape, lib.empty(2, 3).shape,
            lib.zeros(3, dtype=lib.long), lib.tensor([1, 2], dtype=lib.float64),
            x_data.new_zeros(3), x_data.new_ones((2, 2)),
            lib.randint(0, 10, (3,)).dtype == lib.int64,
            lib.randn(4, 4).shape, lib.randperm(5).sort().values]


@idiom
def tensor_attributes_and_indexing(lib):
    tensor = lib.tensor(data(4, 4))
    out = [tuple(tensor.shape), tensor.dtype == lib.float32, tensor.size(), tensor.size(1),
           tensor.dim(), tensor.ndim, tensor.numel(), len(tensor), tensor.is_floating_point()]
    out += [tensor[0], tensor[:, 0], tensor[..., -1], tensor[1:3, ::2], tensor[-1, -1].item()]
    tensor[:, 1] = 0
    out.append(tensor)
    return out


@idiom
def sizes_by_keyword_and_shape_slices(lib):
    x = lib.zeros(size=(2, 3, 4))
    return [x, lib.ones(size=[2]), lib.empty(size=(1, 2)).shape, lib.rand(size=(3,)).shape,
            lib.randn(size=(2, 2)).dtype == lib.float32,
            lib.randint(low=2, high=5, size=(4,)).shape, lib.randint(3, (2,)).dtype == lib.int64,
            x.shape[1:], isinstance(x.shape[1:], lib.Size), x.shape[-1]]


@idiom
def views_and_edge_values(lib):
    """Writing through a diagonal view, repeat_interleave's short forms, PReLU and atan2
    at 0, round(decimals) in float16, the adaptive max pool's gradient with ties."""
    eye = lib.zeros(3, 4)
    eye.diagonal().fill_(2)
    eye.diagonal(1).add_(1)
    slope = lib.tensor([0.25])
    x = lib.zeros(3, requires_grad=True)
    lib.nn.functional.prelu(x, slope).sum().backward()
    a, b = lib.zeros(2, requires_grad=True), lib.zeros(2, requires_grad=True)
    lib.atan2(a, b).sum().backward()
    flat = lib.zeros(1, 1, 5, 5, requires_grad=True)             # every window a tie
    lib.nn.functional.adaptive_max_pool2d(flat, 3).sum().backward()
    return [eye, x.grad, a.grad, b.grad, flat.grad,
            lib.repeat_interleave(lib.tensor([1, 2, 3]), lib.tensor([2])),
            lib.repeat_interleave(lib.tensor([1, 2, 3])),
            lib.round(lib.tensor([1.2345, -0.5], dtype=lib.float16), decimals=3)]


@idiom
def older_pytorch_code(lib):
    """Typed constructors, Variable, activation checkpointing and flat parameter vectors."""
    weights = lib.FloatTensor([1, 3])
    labels = lib.LongTensor([0, 1, 1])
    x = lib.autograd.Variable(lib.FloatTensor(data(3, 2)), requires_grad=True)
    layer = set_weights(lib, lib.nn.Linear(2, 2))
    out = lib.utils.checkpoint.checkpoint(layer, x, use_reentrant=False)
    loss = lib.nn.functional.cross_entropy(out, labels, weight=weights)
    loss.backward()
    flat = lib.nn.utils.parameters_to_vector(layer.parameters())
    with lib.no_grad():
        lib.nn.utils.vector_to_parameters(flat * 2, layer.parameters())
    return [weights, labels, loss, x.grad, flat, layer.weight, lib.FloatTensor(2, 3).shape,
            lib.LongTensor(2, 3).dtype == lib.int64, lib.LongTensor(2, 3).shape,
            lib.BoolTensor([1, 0]), lib.DoubleTensor([1]).dtype == lib.float64]


@idiom
def legacy_tensor_constructor(lib):
    """``torch.Tensor(...)`` as old code calls it: a list gives float32 values (class
    weights built this way), ints give an uninitialized tensor of that shape."""
    weights = lib.Tensor([1, 10])
    table = lib.Tensor([[1, 2], [3, 4]])
    return [weights, weights.mean(), table.sum(0), lib.Tensor(2, 3).shape,
            lib.Tensor(2, 3).dtype == lib.float32, lib.Tensor().shape, lib.Tensor((5,)),
            lib.Tensor(4).shape]


@idiom
def counting_into_elements_in_place(lib):
    """A confusion matrix and a histogram filled element by element, a reduction changed in
    place (the 0-d results of indexing and of full reductions are tensors like any other)."""
    predictions, targets = labels(20, 3, seed=1), labels(20, 3, seed=2)
    confusion = lib.zeros(3, 3, dtype=lib.long)
    for p, t in zip(predictions, targets):
        confusion[t, p] += 1
    histogram = lib.zeros(4)
    histogram[1] += 2.5
    x = lib.tensor(data(2, 3))
    total = x.sum()
    total += 1
    mean = x.mean()
    mean /= 2
    element = x[1, 2]          # a view, as in PyTorch: changing it changes x
    element += 5
    with lib.no_grad():
        loss = lib.nn.functional.cross_entropy(x, lib.tensor([0, 2]))
        loss *= 2
    return [confusion, histogram, total, mean, element, x, loss]


@idiom
def custom_optimizer_and_ema_in_place(lib):
    """Adam written by hand (addcmul_, addcdiv_), a weight EMA (lerp_), and the in-place twins
    of the elementwise ops, as custom optimizers and training loops write them."""
    w = lib.tensor(data(3, 2), requires_grad=True)
    m, v = lib.zeros(3, 2), lib.zeros(3, 2)
    ema = w.detach().clone()
    for step in range(1, 4):
        loss = (w * lib.tensor(data(3, 2, seed=step))).pow(2).sum()
        loss.backward()
        with lib.no_grad():
            g = w.grad
            m.mul_(0.9).add_(g, alpha=0.1)
            v.mul_(0.999).addcmul_(g, g, value=0.001)
            denom = (v / (1 - 0.999 ** step)).sqrt_().add_(1e-8)
            w.addcdiv_(m, denom, value=-0.01 / (1 - 0.9 ** step))
            ema.lerp_(w, 0.1)
        w.grad = None
    x = lib.tensor(data(2, 3))
    others = [x.clone().exp_(), x.clone().abs_().log1p_(), x.clone().clamp_min_(0.1),
              x.clone().sigmoid_(), x.clone().tanh_().neg_(), x.clone().floor_(),
              x.clone().triu_(), x.clone().mul_(3).round_()]
    keep = lib.zeros(4, 1, 1).bernoulli_(1.0)            # DropPath's mask, p = 1: all kept
    return [w, m, v, ema, keep] + others


@idiom
def joining_and_arithmetic(lib):
    tensor = lib.tensor(data(3, 4))
    t1 = lib.cat([tensor, tensor, tensor], dim=1)
    y1 = tensor @ tensor.T
    y2 = tensor.matmul(tensor.T)
    z1 = tensor * tensor
    z2 = tensor.mul(tensor)
    agg = tensor.sum()
    agg_item = agg.item()
    tensor.add_(5)
    return [t1, y1, y2, z1, z2, agg, agg_item, type(agg_item) is float, tensor]


@idiom
def numpy_bridge(lib):
    t = lib.ones(5)
    n = t.numpy()
    t.add_(1)
    n2 = np.ones(5)
    t2 = lib.from_numpy(n2)
    np.add(n2, 1, out=n2)
    return [t, list(n), t2, t2.dtype == lib.float64, lib.tensor(np.arange(3)).tolist()]


# ---------------------------------------------------------------------------
# The "Autograd" tutorial
# ---------------------------------------------------------------------------

@idiom
def autograd_basics(lib):
    x = lib.ones(5)
    y = lib.zeros(3)
    w = lib.tensor(data(5, 3), requires_grad=True)
    b = lib.tensor(data(3, seed=1), requires_grad=True)
    z = lib.matmul(x, w) + b
    loss = lib.nn.functional.binary_cross_entropy_with_logits(z, y)
    loss.backward()
    out = [z, loss, w.grad, b.grad, z.requires_grad, w.is_leaf, z.is_leaf]
    with lib.no_grad():
        z = lib.matmul(x, w) + b
    out.append(z.requires_grad)
    z_det = (lib.matmul(x, w) + b).detach()
    out.append(z_det.requires_grad)
    return out


@idiom
def jacobian_vector_products(lib):
    inp = lib.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    out.backward(lib.ones_like(out), retain_graph=True)
    first = inp.grad.clone()
    out.backward(lib.ones_like(out), retain_graph=True)
    second = inp.grad.clone()
    inp.grad.zero_()
    out.backward(lib.ones_like(out), retain_graph=True)
    return [first, second, inp.grad]


@idiom
def gradient_accumulation_and_detach(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for _ in range(3):
        (x ** 2).sum().backward()
    accumulated = x.grad.clone()
    x.grad = None
    y = x * 2
    (y.detach() * x).sum().backward()
    return [accumulated, x.grad, x.detach().clone().requires_grad_().requires_grad]


@idiom
def manual_gradient_descent(lib):
    # d2l's linear regression from scratch
    true_w, true_b = lib.tensor([2.0, -3.4]), 4.2
    X = lib.tensor(data(20, 2))
    y = lib.matmul(X, true_w) + true_b
    y = y.reshape((-1, 1))
    w = lib.zeros((2, 1), requires_grad=True)
    b = lib.zeros(1, requires_grad=True)

    def squared_loss(y_hat, y):
        return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2

    def sgd(params, lr, batch_size):
        with lib.no_grad():
            for param in params:
                param -= lr * param.grad / batch_size
                param.grad.zero_()

    losses = []
    for epoch in range(5):
        for i in range(0, 20, 5):
            l = squared_loss(lib.matmul(X[i:i + 5], w) + b, y[i:i + 5])
            l.sum().backward()
            sgd([w, b], 0.1, 5)
        with lib.no_grad():
            losses.append(float(squared_loss(lib.matmul(X, w) + b, y).mean()))
    return [w, b, losses]


@idiom
def custom_autograd_function(lib):
    # "Learning PyTorch with Examples": a new autograd Function, then a fit with it
    class LegendrePolynomial3(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    x = lib.linspace(-math.pi, math.pi, 200)
    y = lib.sin(x)
    a, b = lib.full((), 0.0, requires_grad=True), lib.full((), -1.0, requires_grad=True)
    c, d = lib.full((), 0.0, requires_grad=True), lib.full((), 0.3, requires_grad=True)
    learning_rate = 5e-6
    P3 = LegendrePolynomial3.apply
    for t in range(20):
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        with lib.no_grad():
            for param in (a, b, c, d):
                param -= learning_rate * param.grad
                param.grad = None
    return [loss, a, b, c, d]


@idiom
def autograd_grad_function(lib):
    x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (x.sin() * x).sum()
    (dx,) = lib.autograd.grad(y, x, retain_graph=True)
    out = lib.autograd.grad(outputs=[y], inputs=[x], grad_outputs=[lib.tensor(2.0)])
    return [dx, out[0], x.grad is None, lib.pi, lib.inf]


@idiom
def gradient_hooks(lib):
    # Grad-CAM style: keep the gradient of an intermediate activation with a hook
    saved = {}
    x = lib.tensor(data(2, 3), requires_grad=True)
    features = (x * 2).relu()
    handle = features.register_hook(lambda grad: saved.setdefault("grad", grad))
    x.register_hook(lambda grad: grad.clamp(-0.5, 0.5))   # gradient clipping on a leaf
    score = (features ** 2).sum()
    score.backward()
    handle.remove()
    return [saved["grad"], x.grad]


# ---------------------------------------------------------------------------
# Tensor manipulation that models are made of
# ---------------------------------------------------------------------------

@idiom
def reductions_with_dim(lib):
    x = lib.tensor(data(3, 4, 5))
    values, indices = x.max(dim=1)
    return [x.sum(dim=1), x.mean(1, keepdim=True), x.max(), x.max(dim=2)[0], values, indices,
            x.min(1).indices, lib.argmax(x, dim=2), x.argmax(), x.std(), x.var(0),
            x.std(dim=(0, 2)), x.sum((0, 1)), x.amax(dim=(1, 2)), x.prod(2), x.norm(dim=-1),
            lib.logsumexp(x, 1), x.abs().max(), x.pow(2).sum().sqrt(), x.cumsum(0),
            (x > 0).sum().item(), (x > 0).float().mean().item()]


@idiom
def reshaping(lib):
    x = lib.tensor(data(2, 3, 4, 5))
    B, C, H, W = x.shape
    return [x.view(x.size(0), -1).shape, x.flatten(1).shape, lib.flatten(x, 2).shape,
            x.permute(0, 2, 3, 1).shape, x.transpose(1, 2).shape, x.reshape(B, C, -1).shape,
            x.unsqueeze(1).shape, x[:, :1].squeeze(1).shape, x.contiguous().view(-1).shape,
            x.transpose(1, 3).contiguous().view(B, -1).shape, x.mean((2, 3)),
            x.view(B, C, H * W).transpose(1, 2), x.squeeze().shape, x[None].shape,
            x[:, None, :, 0].shape, x.expand(3, -1, -1, -1, -1).shape]


@idiom
def broadcasting_and_normalization(lib):
    x = lib.tensor(data(6, 3))
    mean, std = x.mean(dim=0), x.std(dim=0)
    normalized = (x - mean) / std
    scaled = (x - x.min()) / (x.max() - x.min())
    centered = x - x.mean(dim=1, keepdim=True)
    return [normalized, scaled, centered, x / x.norm(dim=1, keepdim=True),
            lib.nn.functional.normalize(x, dim=1), x.unsqueeze(1) - x.unsqueeze(0)]


@idiom
def selection_and_masks(lib):
    x = lib.tensor(data(4, 5))
    mask = x > 0
    y = x.clone()
    y[~mask] = 0
    z = x.clone()
    z[z < -0.5] = -0.5
    return [x[mask], lib.where(mask, x, lib.zeros_like(x)), lib.where(x > 0, x, 0.0),
            x.masked_fill(x < 0, 0), y, z, x.clamp(min=0), lib.clamp(x, -0.3, 0.3),
            (mask & (x < 1)).sum(), (mask | (x < -1)).any(), mask.all(), mask.long().sum(1),
            mask.float(), lib.nonzero(mask).shape, x[x.argmax(dim=1) > 1].shape,
            (x * mask).sum(), lib.masked_fill(x, mask, 1.0)]


@idiom
def gather_indexing_and_one_hot(lib):
    y_hat = lib.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    y = lib.tensor([0, 2])
    picked = y_hat[[0, 1], y]
    by_range = y_hat[range(len(y_hat)), y]
    gathered = y_hat.gather(1, y.unsqueeze(1)).squeeze(1)
    one_hot = lib.nn.functional.one_hot(y, num_classes=3)
    accuracy = (y_hat.argmax(axis=1).type(y.dtype) == y).float().sum()
    return [picked, by_range, gathered, one_hot, float(accuracy), -lib.log(by_range)]


@idiom
def splitting_and_stacking(lib):
    x = lib.tensor(data(4, 6))
    a, b = x.chunk(2, dim=1)
    pieces = x.split(2, dim=0)
    c, d = lib.split(x, [2, 4], dim=1)
    return [a, b, len(pieces), c, d, lib.stack([a, b], dim=0).shape, lib.cat((a, b), 1),
            lib.stack((x, x)).shape, lib.cat([x, x], dim=-1).shape, x.unbind(0)[1],
            x.repeat(2, 1).shape, x[:, :1].expand(-1, 3), x.flip(0), lib.tril(x), x.triu(1)]


@idiom
def sorting(lib):
    x = lib.tensor(data(3, 5))
    values, indices = x.sort(dim=1, descending=True)
    top = x.topk(2, dim=1)
    return [values, indices, top.values, top.indices, x.argsort(dim=0), lib.sort(x).values]


@idiom
def type_promotion_in_practice(lib):
    counts = lib.tensor([1, 2, 3])
    ratio = counts / counts.sum()
    half = counts * 0.5
    correct = lib.tensor([True, False, True])
    return [ratio, half, counts * 2, counts + True, correct.sum(), correct.float().mean(),
            counts.float() / 2, counts // 2, counts % 2, -counts, counts ** 2, 2 ** counts,
            (counts == 2).sum(), counts.double().dtype == lib.float64, counts.to(lib.float32)]


@idiom
def comparisons_and_equality(lib):
    a, b = lib.tensor([1.0, 2.0, 3.0]), lib.tensor([1.0, 2.5, 3.0])
    return [a == b, a != b, a < b, a >= b, a.eq(b), lib.equal(a, a), lib.equal(a, b),
            lib.allclose(a, b + 1e-9), lib.allclose(a, b), a.isclose(b), lib.isnan(a / 0 * 0),
            lib.isinf(a / 0), bool((a == a).all()), (a == b).tolist(), a.le(2), lib.gt(a, 1),
            lib.maximum(a, b), lib.minimum(a, b)]


# ---------------------------------------------------------------------------
# "Build the model", "Optimization" and the CIFAR-10 tutorial
# ---------------------------------------------------------------------------

def mlp(lib):
    nn = lib.nn

    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(8 * 8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))

        def forward(self, x):
            x = self.flatten(x)
            return self.linear_relu_stack(x)

    return set_weights(lib, NeuralNetwork())


@idiom
def build_the_model(lib):
    model = mlp(lib).to("cpu")
    X = lib.tensor(data(3, 8, 8))
    logits = model(X)
    pred_probab = lib.nn.Softmax(dim=1)(logits)
    y_pred = pred_probab.argmax(1)
    shapes = [(name, tuple(param.size())) for name, param in model.named_parameters()]
    return [logits, pred_probab, y_pred, shapes,
            sum(p.numel() for p in model.parameters() if p.requires_grad)]


def train_loop(lib, model, loss_fn, optimizer, X, y, steps):
    model.train()
    losses = []
    for _ in range(steps):
        pred = model(X)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def evaluation_loop(lib, model, loss_fn, X, y):
    model.eval()
    test_loss, correct = 0, 0
    with lib.no_grad():
        pred = model(X)
        test_loss += loss_fn(pred, y).item()
        correct += (pred.argmax(1) == y).type(lib.float).sum().item()
    return [test_loss, correct / len(X)]


@idiom
def optimization_loop_sgd(lib):
    model = mlp(lib)
    X, y = lib.tensor(data(16, 8, 8)), lib.tensor(labels(16, 10))
    loss_fn = lib.nn.CrossEntropyLoss()
    optimizer = lib.optim.SGD(model.parameters(), lr=0.1)
    losses = train_loop(lib, model, loss_fn, optimizer, X, y, steps=5)
    return [losses, evaluation_loop(lib, model, loss_fn, X, y)]


@idiom
def optimization_loop_adam_momentum(lib):
    model = mlp(lib)
    X, y = lib.tensor(data(16, 8, 8)), lib.tensor(labels(16, 10))
    opt = lib.optim.Adam(model.parameters(), lr=1e-2)
    losses = train_loop(lib, model, lib.nn.CrossEntropyLoss(label_smoothing=0.1), opt, X, y, 4)
    model2 = mlp(lib)
    opt2 = lib.optim.SGD(model2.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    losses2 = train_loop(lib, model2, lib.nn.CrossEntropyLoss(), opt2, X, y, 4)
    return [losses, losses2]


@idiom
def cifar10_convnet(lib):
    nn, F = lib.nn, lib.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = lib.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    net = set_weights(lib, Net())
    criterion = nn.CrossEntropyLoss()
    optimizer = lib.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    inputs, target = lib.tensor(data(2, 3, 32, 32)), lib.tensor(labels(2, 10))
    running_loss = 0.0
    for _ in range(2):
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, target)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    _, predicted = lib.max(outputs, 1)
    total = target.size(0)
    correct = (predicted == target).sum().item()
    return [running_loss, outputs, predicted, total, correct]


@idiom
def losses_as_modules_and_functions(lib):
    nn, F = lib.nn, lib.nn.functional
    logits = lib.tensor(data(4, 3), requires_grad=True)
    target = lib.tensor(labels(4, 3))
    probs = lib.tensor(np.random.default_rng(1).uniform(0.05, 0.95, (4, 3)).astype(np.float32))
    binary = lib.tensor((data(4, 3, seed=2) > 0).astype(np.float32))
    total = (nn.CrossEntropyLoss()(logits, target) + nn.NLLLoss()(F.log_softmax(logits, 1), target)
             + nn.BCEWithLogitsLoss(pos_weight=lib.tensor([1.0, 2.0, 3.0]))(logits, binary)
             + nn.BCELoss()(logits.sigmoid(), binary) + nn.MSELoss()(logits, probs)
             + nn.L1Loss(reduction="sum")(logits, probs) + nn.SmoothL1Loss()(logits, probs)
             + nn.HuberLoss(delta=0.5)(logits, probs)
             + nn.KLDivLoss(reduction="batchmean")(F.log_softmax(logits, 1), probs.softmax(1))
             + F.binary_cross_entropy(probs, binary, reduction="mean")
             + F.cross_entropy(logits, target, reduction="sum") * 0.1
             + F.cross_entropy(logits, target, weight=lib.tensor([1.0, 2.0, 0.5])))
    total.backward()
    return [total, logits.grad, nn.CrossEntropyLoss(reduction="none")(logits, target)]


@idiom
def classification_metrics(lib):
    outputs = lib.tensor(data(8, 5))
    target = lib.tensor(labels(8, 5))
    _, pred = outputs.topk(2, 1, True, True)
    pred = pred.t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))
    top1 = correct[:1].reshape(-1).float().sum(0, keepdim=True)
    top2 = correct[:2].reshape(-1).float().sum(0, keepdim=True)
    probs = outputs.softmax(dim=1)
    confidence, predicted = probs.max(1)
    return [top1.mul_(100.0 / 8), top2, confidence, predicted,
            (predicted == target).sum().item() / target.size(0)]


@idiom
def residual_convnet_block(lib):
    nn, F = lib.nn, lib.nn.functional

    class BasicBlock(nn.Module):
        def __init__(self, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.shortcut = nn.Identity()

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    model = set_weights(lib, nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), BasicBlock(4),
                                           nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                                           nn.Dropout(0.5), nn.Linear(4, 2)))
    x = lib.tensor(data(2, 3, 8, 8))
    model.train()
    out = model[1](model[0](x))
    loss = out.pow(2).mean()
    loss.backward()
    model.eval()
    with lib.no_grad():
        logits = model(x)
    bn = model[1].bn1
    return [out, logits, model[0].weight.grad, bn.running_mean, bn.running_var,
            bn.num_batches_tracked, list(model.state_dict().keys())[:6]]


@idiom
def functional_layers(lib):
    F = lib.nn.functional
    x = lib.tensor(data(1, 2, 6, 6), requires_grad=True)
    w = lib.tensor(data(3, 2, 3, 3, seed=1))
    lin_w, lin_b = lib.tensor(data(4, 2, seed=2)), lib.tensor(data(4, seed=3))
    outs = [F.conv2d(x, w, padding=1), F.conv2d(x, w, stride=2), F.max_pool2d(x, 2),
            F.avg_pool2d(x, 2), F.adaptive_avg_pool2d(x, 1), F.interpolate(x, scale_factor=2),
            F.interpolate(x, size=(4, 4), mode="bilinear", align_corners=False),
            F.pad(x, (1, 1, 2, 0)), F.dropout(x, p=0.5, training=False),
            F.linear(x.mean((2, 3)), lin_w, lin_b), F.conv2d(x, w, padding="same")]
    sum(o.sum() for o in outs).backward()
    return outs + [x.grad]


@idiom
def optimizer_state_and_schedules(lib):
    model = mlp(lib)
    optimizer = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = lib.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    X, y = lib.tensor(data(8, 8, 8)), lib.tensor(labels(8, 10))
    lrs = []
    for _ in range(4):
        optimizer.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(X), y)
        loss.backward()
        lib.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    copy = mlp(lib)
    copy.load_state_dict(model.state_dict())
    with lib.no_grad():
        same = lib.equal(copy(X), model(X))
    return [lrs, loss, same]


# ---------------------------------------------------------------------------
# Attention blocks (nanoGPT style)
# ---------------------------------------------------------------------------

@idiom
def causal_self_attention(lib):
    F = lib.nn.functional
    B, T, C, n_head = 2, 4, 6, 2
    x = lib.tensor(data(B, T, C), requires_grad=True)
    w_qkv = lib.tensor(data(C, 3 * C, seed=1) * 0.3, requires_grad=True)
    q, k, v = (x @ w_qkv).split(C, dim=2)
    k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
    q = q.view(B, T, n_head, C // n_head).transpose(1, 2)
    v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
    bias = lib.tril(lib.ones(T, T)).view(1, 1, T, T)
    att = att.masked_fill(bias[:, :, :T, :T] == 0, float("-inf"))
    att = F.softmax(att, dim=-1)
    y = att @ v
    y = y.transpose(1, 2).contiguous().view(B, T, C)
    targets = lib.tensor(labels(B * T, C))
    loss = F.cross_entropy(y.view(B * T, C), targets)
    loss.backward()
    return [att, y, loss, x.grad, w_qkv.grad]


@idiom
def transformer_block_functional(lib):
    F = lib.nn.functional
    vocab, d, T = 11, 8, 5
    wte = lib.tensor(data(vocab, d) * 0.5, requires_grad=True)
    ln_w, ln_b = lib.ones(d, requires_grad=True), lib.zeros(d, requires_grad=True)
    w_in = lib.tensor(data(d, 4 * d, seed=1) * 0.2, requires_grad=True)
    w_out = lib.tensor(data(4 * d, d, seed=2) * 0.2, requires_grad=True)
    idx = lib.tensor(labels(2 * T, vocab).reshape(2, T))
    x = F.embedding(idx, wte)                                    # (B, T, d)
    pos = lib.arange(T)
    x = x + F.embedding(pos, wte[:T]).unsqueeze(0)
    h = F.layer_norm(x, (d,), ln_w, ln_b)
    scores = lib.einsum("btd,bsd->bts", h, h) / math.sqrt(d)
    causal = lib.triu(lib.ones(T, T, dtype=lib.bool), diagonal=1)
    attn = scores.masked_fill(causal, float("-inf")).softmax(dim=-1)
    x = x + attn @ h
    x = x + F.dropout(F.gelu(F.layer_norm(x, (d,)) @ w_in), p=0.1, training=False) @ w_out
    logits = x @ wte.T
    loss = F.cross_entropy(logits.view(-1, vocab), idx.view(-1))
    loss.backward()
    return [attn, logits, loss, wte.grad, ln_w.grad, ln_b.grad, w_in.grad, w_out.grad]


@idiom
def transformer_and_diffusion_modules(lib):
    """A pre-norm transformer block and a diffusion U-Net's ResBlock, written with the
    modules (nn.Embedding, nn.LayerNorm, nn.GELU, nn.GroupNorm, nn.SiLU, nn.Dropout2d)."""
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self, vocab, d):
            super().__init__()
            self.wte = nn.Embedding(vocab, d, padding_idx=0)
            self.ln = nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
            self.head = nn.Linear(d, vocab, bias=False)

        def forward(self, idx):
            x = self.wte(idx)
            return self.head(x + self.mlp(self.ln(x)))

    class ResBlock(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.body = nn.Sequential(nn.GroupNorm(2, channels), nn.SiLU(),
                                      nn.Conv2d(channels, channels, 3, padding=1),
                                      nn.Dropout2d(0.1), nn.Mish())

        def forward(self, x):
            return x + self.body(x)

    block, res = set_weights(lib, Block(7, 8)), set_weights(lib, ResBlock(4), seed=1)
    res.eval()
    idx = lib.tensor(labels(10, 7).reshape(2, 5))
    loss = lib.nn.functional.cross_entropy(block(idx).view(-1, 7), idx.view(-1))
    image = lib.tensor(data(2, 4, 5, 5), requires_grad=True)
    total = loss + res(image).pow(2).mean()
    total.backward()
    return [loss, total, image.grad, block.wte.weight.grad, block.ln.weight.grad,
            res.body[0].weight.grad, [name for name, _ in block.named_parameters()]]


@idiom
def one_hot_the_old_way(lib):
    y = lib.tensor([0, 2, 1, 2])
    one_hot = lib.zeros(4, 3).scatter_(1, y.unsqueeze(1), 1)
    counts = lib.zeros(3).scatter_add_(0, y, lib.ones(4))
    return [one_hot, counts, one_hot.argmax(1) == y, lib.bincount(y), y.unique(return_counts=True)]


@idiom
def softmax_from_scratch(lib):
    def softmax(X):
        X_exp = lib.exp(X)
        partition = X_exp.sum(1, keepdim=True)
        return X_exp / partition

    def cross_entropy(y_hat, y):
        return -lib.log(y_hat[range(len(y_hat)), y])

    W = lib.tensor(data(4, 3) * 0.1, requires_grad=True)
    b = lib.zeros(3, requires_grad=True)
    X, y = lib.tensor(data(5, 4, seed=1)), lib.tensor(labels(5, 3))
    y_hat = softmax(lib.matmul(X.reshape((-1, W.shape[0])), W) + b)
    l = cross_entropy(y_hat, y)
    l.mean().backward()
    return [y_hat, l, W.grad, b.grad, y_hat.sum(1)]


@idiom
def dropout_and_relu_from_scratch(lib):
    def dropout_layer(X, dropout):
        mask = (lib.tensor(np.random.default_rng(3).random(tuple(X.shape))) > dropout).float()
        return mask * X / (1.0 - dropout)

    def relu(X):
        a = lib.zeros_like(X)
        return lib.max(X, a)

    X = lib.arange(16, dtype=lib.float32).reshape((2, 8)) - 8
    return [dropout_layer(X, 0.5), relu(X), dropout_layer(X, 0.0)]


@idiom
def functional_activations(lib):
    F = lib.nn.functional
    x = lib.linspace(-3, 3, 13, requires_grad=True)
    ys = [F.relu(x), F.leaky_relu(x, 0.1), F.elu(x), F.gelu(x), F.silu(x), F.softplus(x),
          F.sigmoid(x), F.tanh(x), lib.sigmoid(x), lib.tanh(x), lib.relu(x), x.sigmoid(),
          F.relu6(x * 3), F.hardtanh(x), F.logsigmoid(x), F.softmax(x, dim=0),
          F.log_softmax(x, dim=0)]
    sum(y.sum() for y in ys).backward()
    return ys + [x.grad]


@idiom
def inplace_relu_in_a_model(lib):
    nn = lib.nn
    model = set_weights(lib, nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 2)))
    x = lib.tensor(data(3, 4))
    y = model(x)
    y.sum().backward()
    h = lib.tensor(data(3, 4), requires_grad=True) * 1
    h2 = lib.nn.functional.relu(h, inplace=True)
    return [y, model[0].weight.grad, h2 is h, h]


@idiom
def tensor_dtype_and_device_moves(lib):
    device = lib.device("cuda" if lib.cuda.is_available() else "cpu")
    x = lib.tensor(data(2, 3)).to(device)
    return [x.to(lib.float64).dtype == lib.float64, x.double().float().dtype == lib.float32,
            x.long(), x.int().dtype == lib.int32, x.bool(), x.half().dtype == lib.float16,
            x.type(lib.float64).dtype == lib.float64, x.type_as(lib.tensor([1])),
            x.to(device, lib.float64).dtype == lib.float64, x.cpu().numpy().dtype == np.float32,
            str(lib.device("cpu")) == "cpu", x.detach().cpu().tolist() == x.tolist()]


@idiom
def no_grad_decorator_and_modes(lib):
    w = lib.tensor([1.0, 2.0], requires_grad=True)

    @lib.no_grad()
    def evaluate(v):
        return v * 2

    y = evaluate(w)
    with lib.enable_grad():
        z = w * 2
    with lib.set_grad_enabled(False):
        u = w * 2
    return [y.requires_grad, z.requires_grad, u.requires_grad, lib.is_grad_enabled()]


@pytest.mark.parametrize("name", list(IDIOMS))
def test_idiom_runs_like_pytorch(torch, name):
    import tinynet
    torch.manual_seed(0)
    theirs = IDIOMS[name](torch)
    ours = IDIOMS[name](tinynet)
    assert_same(ours, theirs, rtol=2e-4, atol=2e-5, where=name)
