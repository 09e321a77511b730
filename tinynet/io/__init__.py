"""Reading and writing weights: checkpoints, PyTorch ``.pth`` files, safetensors.

    tn.io.save_checkpoint("run/last.npz", model, optimizer, epoch=3, metadata={...})
    ckpt = tn.io.load_checkpoint("run/last.npz")        # {"model", "optimizer", ...}
    sd = tn.io.load_torchvision("resnet18-f37072fd.pth")  # no torch needed
    sd = tn.io.load_state_dict_file(path)                # any of .pth/.pt/.safetensors/.npz
    tn.save(checkpoint, "ck.pt"); tn.load("ck.pt")       # torch.save/torch.load, its format
    tn.io.atomic_write_text("report.json", text)         # every file, written atomically

Nothing here unpickles arbitrary objects: checkpoints are ``.npz`` + JSON, the
``.pth`` reader (and ``tn.load``) only rebuilds tensors and plain containers,
safetensors holds no code at all.
"""
import os
from collections import OrderedDict

from ._atomic import atomic_copy, atomic_write, atomic_write_bytes, atomic_write_text
from .checkpoint import (HEADER_KEY, CheckpointError, NonFiniteWeightsError, load_checkpoint,
                         load_checkpoint_metadata, read_npz, save_checkpoint)
from .safetensors import SafetensorsError, load_safetensors, save_safetensors
from .torch_pth import TorchFormatError, UnsafePickleError, load_torchvision

__all__ = [
    "save_checkpoint", "load_checkpoint", "load_checkpoint_metadata", "load_torchvision",
    "load_safetensors", "save_safetensors", "load_state_dict_file",
    "atomic_write", "atomic_write_bytes", "atomic_write_text", "atomic_copy",
    "CheckpointError", "NonFiniteWeightsError", "TorchFormatError", "UnsafePickleError",
    "SafetensorsError",
]

_TORCH_SUFFIXES = (".pth", ".pt")


def load_state_dict_file(path):
    """Load model weights as an OrderedDict {name: numpy array}, chosen by file extension.

    ``.pth``/``.pt``  PyTorch state dict (``load_torchvision``)
    ``.safetensors``  safetensors (``load_safetensors``)
    ``.npz``          a tinynet checkpoint (its ``"model"`` entry), or a plain
                      ``np.savez`` archive of arrays (all of them, in file order)
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix in _TORCH_SUFFIXES:
        return load_torchvision(path)
    if suffix == ".safetensors":
        return load_safetensors(path)
    if suffix == ".npz":
        arrays = read_npz(path, "load_state_dict_file")
        if HEADER_KEY not in arrays:
            return OrderedDict(arrays)
        model = load_checkpoint(path)["model"]
        if model is None:
            raise CheckpointError(f"load_state_dict_file: checkpoint {path} holds no model "
                                  "weights (it was saved with model=None)")
        return model
    raise ValueError(f"load_state_dict_file: cannot tell the format of {path} from its "
                     f"extension {suffix!r}; expected .pth, .pt, .safetensors or .npz")
