"""Writing a file atomically: readers see the old file or the complete new one, never half."""
import os
import uuid
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path, write):
    """Call ``write(binary_file)`` on a temporary file next to ``path``, then rename it to ``path``.

    The temporary file is in the same folder, so ``os.replace`` is a rename on
    one filesystem, which is atomic.  If ``write`` fails (or Ctrl-C), the
    temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the new name points at them
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
