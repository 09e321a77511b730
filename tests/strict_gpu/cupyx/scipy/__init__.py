"""cupyx.scipy of the strict stand-in: SciPy's special and ndimage on the device arrays' data."""
