"""cupy.fft of the strict stand-in: numpy.fft on the device arrays' data."""
import numpy as np

from .._namespace import populate

populate(globals(), "cupy.fft", np.fft, "cupy.fft", skip={"config"})
