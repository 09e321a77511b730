"""``tinynet.distributed.nn``: collectives that gradients flow through (``torch.distributed.nn``)."""
from . import functional  # noqa: F401
