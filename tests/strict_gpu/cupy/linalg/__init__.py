"""cupy.linalg of the strict stand-in: numpy.linalg on the device arrays' data."""
import numpy as np

from .._namespace import populate

LinAlgError = np.linalg.LinAlgError
populate(globals(), "cupy.linalg", np.linalg, "cupy.linalg")
