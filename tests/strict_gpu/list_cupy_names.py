"""Write cupy14_names.json: the public names of an installed CuPy, for the strict stand-in.

CuPy installs and imports on a machine without a GPU (only making an array
fails), so on any machine:

    python -m venv /tmp/cupyenv && /tmp/cupyenv/bin/pip install numpy scipy cupy-cuda13x
    /tmp/cupyenv/bin/python tests/strict_gpu/list_cupy_names.py

The stand-in (cupy/_namespace.py) offers these names and no others.
"""
import json
from pathlib import Path

import cupy
import cupy.cuda.runtime
import cupy.fft
import cupy.linalg
import cupy.random
import cupyx
import cupyx.scipy.ndimage
import cupyx.scipy.special


def public(module):
    return sorted(name for name in dir(module) if not name.startswith("_"))


names = {
    "cupy": public(cupy), "cupy.ndarray": public(cupy.ndarray),
    "cupy.ndarray dunders": sorted(n for n in dir(cupy.ndarray) if n.startswith("__")),
    "cupy.random": public(cupy.random), "cupy.linalg": public(cupy.linalg),
    "cupy.fft": public(cupy.fft), "cupyx": public(cupyx),
    "cupyx.scipy.special": public(cupyx.scipy.special),
    "cupyx.scipy.ndimage": public(cupyx.scipy.ndimage),
    "cupy.cuda": public(cupy.cuda), "cupy.cuda.runtime": public(cupy.cuda.runtime),
}
out = Path(__file__).resolve().parent / "cupy14_names.json"
out.write_text(json.dumps({"cupy_version": cupy.__version__, "names": names}, indent=0) + "\n")
print(f"{out}: CuPy {cupy.__version__}, {len(names['cupy'])} names in cupy")
