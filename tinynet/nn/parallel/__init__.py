"""``tinynet.nn.parallel``: data-parallel training (``DistributedDataParallel``), as
``torch.nn.parallel``."""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
