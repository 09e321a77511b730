"""Grad-CAM: where in a slice the classifier looked when it said "tumour".

Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", ICCV 2017.  With A the activations of the last
convolutional stage (K channels of h x w; ``model.layer4`` of a ResNet, h = w =
s / 32) and y the tumour logit (before the softmax)::

    alpha_k = mean over (i, j) of  d y / d A_k(i, j)          (one weight per channel)
    cam     = relu( sum_k alpha_k A_k )                        (h, w)

then ``cam`` is scaled to [0, 1] per slice and resized (bilinear) to the
slice's own size.  The ReLU keeps only the evidence *for* the tumour class.

How the gradient of A is obtained: a forward hook on the target layer hands
the rest of the network a fresh leaf tensor holding A's values (``detach`` +
``requires_grad_``), so ``backward`` stores d y / d A in its ``.grad``.  The
parameters are switched to ``requires_grad=False`` meanwhile: no graph is
recorded before the target layer and no parameter gradient is accumulated.

An ensemble of classifiers (``ensemble.Ensemble``) is explained by the mean of its
members' maps, each computed and scaled as above (the mean is then in [0, 1], and
below 1 at its peak where the members look at different places).
"""
import numpy as np

from tinynet import autograd
from .ensemble import Ensemble
from .inference import _as_slices, _batch_starts, _check_task, network_inputs, \
    resize_probabilities
from .scoring import TUMOUR_CLASS, evaluation_mode

__all__ = ["grad_cam"]


def grad_cam(model, spec, images, device="cpu", batch_size=8, target_layer=None,
             class_index=TUMOUR_CLASS, volume=None, positions=None):
    """Grad-CAM heatmaps of the classifier's ``class_index`` logit: (N, H, W) float32 in [0, 1].

    ``images``: uint8 (N, H, W, 3) slices (or a list of (H, W, 3) arrays, which
    gives a list of (H, W) maps), prepared as ``classify`` prepares them.
    ``target_layer``: the module whose output is explained (default
    ``model.layer4``, the last convolutional stage of a ResNet; of an ensemble, the mean
    of its members' maps).  A slice
    whose map is zero everywhere (no positive evidence) gets all zeros.
    ``volume``, ``positions``: all the slices of their scan and where the images lie
    in it, for a model normalized per volume or with context (default: the images
    are the scan; see ``inference.network_inputs``).
    """
    _check_task(spec, "classification", "grad_cam")
    slices, stacked = _as_slices(images, "grad_cam")
    if target_layer is None and isinstance(model, Ensemble):
        # Each member has its own features, so there is no one alpha_k A_k sum over the
        # members: each explains its own decision, and the maps are averaged (a map whose
        # members disagree peaks below 1).
        member_maps = [grad_cam(member, spec, images, device=device, batch_size=batch_size,
                                class_index=class_index, volume=volume, positions=positions)
                       for member in model.members]
        means = [np.mean(maps, axis=0).astype(np.float32) for maps in zip(*member_maps)]
        if not stacked:
            return means
        return np.stack(means) if means else np.zeros(images.shape[:3], np.float32)
    layer = target_layer if target_layer is not None else getattr(model, "layer4", None)
    if layer is None:
        raise ValueError(f"grad_cam: {type(model).__name__} has no layer4; pass target_layer=")
    inputs = network_inputs(spec, slices, volume, positions, "grad_cam")
    maps = []
    with evaluation_mode(model):
        for first in _batch_starts(len(slices), batch_size):
            chunk = slices[first:first + batch_size]
            activations, gradients = _activations_and_gradients(
                model, layer, inputs(first, first + batch_size), device, class_index)
            cams = _class_activation_maps(activations, gradients)
            maps += [np.clip(resize_probabilities(c, image.shape[:2]), 0.0, 1.0)
                     for c, image in zip(cams, chunk)]
    if not stacked:
        return maps
    return np.stack(maps) if maps else np.zeros(images.shape[:3], np.float32)


def _activations_and_gradients(model, layer, inputs, device, class_index):
    """A = layer output (B, K, h, w) and d y_c / d A, both NumPy arrays, for a batch."""
    captured = {}

    def swap_in_leaf(module, args, output):
        leaf = output.detach().requires_grad_()
        captured["A"] = leaf
        return leaf                      # the rest of the forward pass starts from it

    parameters = list(model.parameters())
    flags = [p.requires_grad for p in parameters]
    handle = layer.register_forward_hook(swap_in_leaf)
    try:
        for p in parameters:
            p.requires_grad = False
        with autograd.enable_grad():
            logits = model(autograd.tensor(inputs, device=device))
            if "A" not in captured:
                raise ValueError("grad_cam: the target layer was not called in the forward pass")
            # Each slice's logit depends on its own activations only (eval mode),
            # so the gradient of the sum is every slice's gradient at once.
            logits[:, class_index].sum().backward()
    finally:
        handle.remove()
        for p, flag in zip(parameters, flags):
            p.requires_grad = flag
    leaf = captured["A"]
    if leaf.grad is None:  # the logit does not depend on this layer at all
        return leaf.numpy(), np.zeros(leaf.shape, np.float32)
    return leaf.numpy(), leaf.grad.numpy()


def _class_activation_maps(activations, gradients):
    """relu(sum_k alpha_k A_k) with alpha_k the spatial mean gradient, scaled to [0, 1] per slice.

    (B, K, h, w), (B, K, h, w) -> (B, h, w) float32.
    """
    weights = gradients.mean(axis=(2, 3))                            # (B, K)
    cams = np.maximum(np.einsum("bk,bkhw->bhw", weights, activations), 0.0)
    peak = cams.max(axis=(1, 2), keepdims=True)
    # Dividing by the peak keeps 0 as "no evidence"; an all-zero map stays zero.
    return np.where(peak > 0, cams / np.where(peak > 0, peak, 1.0), 0.0).astype(np.float32)
