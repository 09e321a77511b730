"""``python -m tinynet COMMAND ...``: the brain-MRI application's commands (predict, evaluate,
pack), the same as the ``tinynet`` console script.

A thin shim into ``tinynet.mri.commands``: only running the package imports the
application; ``import tinynet`` (the framework) never does.
"""
import sys

from tinynet.mri.commands import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m tinynet"))
