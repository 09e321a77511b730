"""cupyx.scipy.special of the strict stand-in: scipy.special on the device arrays' data."""
import scipy.special

from cupy._namespace import populate

populate(globals(), "cupyx.scipy.special", scipy.special, "cupyx.scipy.special")
