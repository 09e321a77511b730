"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file tinynet and its application write goes through ``atomic_write``:
checkpoints, safetensors, packed data, split files, PNG figures, JSON and
HTML reports.  Writing straight onto the target is dangerous: a crash, a full
disk or Ctrl-C halfway through leaves a truncated file where the last good one
used to be.  Instead we

1. write everything to a temporary file in the *same directory* (so the final
   rename stays on one filesystem, where ``rename`` is atomic),
2. ``flush`` and ``os.fsync`` it, so the bytes are on disk before the rename
   makes them visible under the real name,
3. ``os.replace`` it onto the target (atomic on POSIX and Windows),
4. fsync the directory (POSIX), so the rename itself survives a power cut.

If anything fails before step 3 the temporary file is removed and the
exception propagates; the previous file at ``path`` is never touched.  An
``OSError`` (disk full, no permission, missing folder) is re-raised as the same
kind of OSError naming ``path`` (errno kept, the original as ``__cause__``):
otherwise "No space left on device" would not say which save failed.

The folder of ``path`` must exist: creating it is the caller's choice.

    atomic_write("model.npz", lambda f: np.savez(f, **arrays))   # any writer of a binary file
    atomic_write_text("report.json", json.dumps(report))
    atomic_write_bytes("figure.png", png_bytes)
    atomic_copy("figures/roc.png", "figures/roc_best.png")
"""
import os
import shutil
import tempfile

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "atomic_copy"]


def atomic_write(path, write):
    """Call ``write(binary_file)`` and atomically move the result onto ``path``.

    ``write`` receives an open binary file object positioned at offset 0.
    Returns ``path`` as a string.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp_path = tempfile.mkstemp(
            prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _naming_path(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file with mode 0600; give it the mode a plain
        # open() would have, so atomic saving does not change permissions.
        os.chmod(tmp_path, _mode_for(path))
        os.replace(tmp_path, path)
    except BaseException as exc:  # also KeyboardInterrupt: never leave the temp behind
        _remove_quietly(tmp_path)
        if isinstance(exc, OSError):
            raise _naming_path(exc, path) from exc
        raise
    _fsync_directory(directory)
    return path


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically; returns ``path`` as a string."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path, text, encoding="utf-8"):
    """Write the string ``text`` to ``path`` atomically (``encoding``, no newline translation);
    returns ``path`` as a string."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_copy(source, path):
    """Copy the file ``source`` onto ``path`` atomically; returns ``path`` as a string.

    ``shutil.copyfile`` writes the target in place, so a reader could see half a copy.
    """
    with open(source, "rb") as src:
        return atomic_write(path, lambda f: shutil.copyfileobj(src, f))


def _naming_path(error, path):
    """A new OSError like ``error`` (same errno, so the same subclass) that names ``path``."""
    reason = error.strerror or str(error)
    message = f"cannot save ({reason}); any previous file at this path is unchanged"
    if error.errno is None:
        return OSError(f"{message}: {path!r}")
    return OSError(error.errno, message, path)


def _remove_quietly(tmp_path):
    """Delete the temporary file; a failure here must not hide the error being raised."""
    try:
        os.unlink(tmp_path)
    except OSError:
        pass


def _mode_for(path):
    """The permission bits the new file should get: the old file's, else 0666 & ~umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)  # the only portable way to read the umask is to set it
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(directory):
    """Make the rename durable (POSIX only; Windows cannot open directories)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the data is already safe
    finally:
        os.close(dir_fd)
