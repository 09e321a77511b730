"""cupyx.scipy.ndimage of the strict stand-in: scipy.ndimage on the device arrays' data."""
import scipy.ndimage

from cupy._namespace import populate

populate(globals(), "cupyx.scipy.ndimage", scipy.ndimage, "cupyx.scipy.ndimage")
