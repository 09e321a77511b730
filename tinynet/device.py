"""``tn.device``: PyTorch's device objects, as plain strings.

tinynet has two devices, ``"cpu"`` and ``"gpu"`` (see ``tinynet.backend``).  A
``device`` is a ``str`` holding one of those two names, so every place that
takes a device name takes a device object too, and ``x.device == "cpu"`` keeps
working.  It also answers like ``torch.device``::

    device = tn.device("cuda" if tn.cuda.is_available() else "cpu")
    model.to(device); x = x.to(device)
    device.type        # "cpu" or "cuda" (PyTorch's name for the GPU)
"""
from . import backend

__all__ = ["device"]


class device(str):
    """A device name: ``device("cpu")``, ``device("cuda")``, ``device("cuda:0")``, ``"gpu"``.

    The string value is tinynet's name (``"cpu"`` or ``"gpu"``); ``type`` is
    PyTorch's (``"cpu"`` or ``"cuda"``) and ``index`` the number after the colon
    (None if absent).  tinynet uses one GPU, so every index means that one.
    """

    def __new__(cls, type, index=None):
        text = str(type)
        if index is None and ":" in text:
            text, _, number = text.partition(":")
            index = int(number)
        obj = super().__new__(cls, backend.normalize_device(text))
        obj.index = index
        return obj

    @property
    def type(self):
        return "cuda" if str.__eq__(self, "gpu") else "cpu"

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"
