"""Memory pools of the strict stand-in: what CuPy's report, without a device behind them.

The stand-in's arrays are NumPy's, so the pools hold nothing; they report 0 bytes.
"""
DEVICE_MEMORY = 16 * 2**30     # what getDeviceProperties and memGetInfo report


class MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_bytes(self):
        return 0

    def free_all_blocks(self, stream=None):
        pass

    def set_limit(self, size=None, fraction=None):
        pass

    def get_limit(self):
        return DEVICE_MEMORY


class PinnedMemoryPool:
    def free_all_blocks(self):
        pass

    def n_free_blocks(self):
        return 0


_device_pool, _pinned_pool = MemoryPool(), PinnedMemoryPool()


def get_default_memory_pool():
    return _device_pool


def get_default_pinned_memory_pool():
    return _pinned_pool
