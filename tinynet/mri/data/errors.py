"""The one exception type of ``tinynet.mri.data``."""

__all__ = ["DataError"]


class DataError(ValueError):
    """Bad input data or a bad argument: the message names the file, folder or argument.

    A subclass of ``ValueError``, so ``except ValueError`` also catches it.
    """
