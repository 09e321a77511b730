"""Helpers shared by test_models.py and mri/test_checkpoint.py: a ResNet-18 with non-trivial
BatchNorm statistics and its weights stored as float16."""
import numpy as np

from tinynet.models import resnet18


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
