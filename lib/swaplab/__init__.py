"""SwapLab: a research workbench for the classic DeepFakes face swap.

One shared encoder, one decoder per person, trained on randomly warped aligned
faces; to swap, encode a face of A and decode it with B's decoder. The
numbered notebooks in ``notebooks/`` tell the story; this package does the work.
Modules are imported lazily by the notebooks (``from swaplab.core import video``) so
that importing ``swaplab`` itself never pulls in TensorFlow or MediaPipe.
Importing it sets their log levels; in a Jupyter kernel (the notebooks), or with
``SWAPLAB_QUIET=1``, it also filters their C++ chatter off stderr (``swaplab.core.quiet``;
``python -m swaplab.train.worker`` installs the same filter itself;
``SWAPLAB_VERBOSE=1`` shows everything). A plain Python program that imports the
library keeps its own stderr untouched.
"""

import os as _os
import sys as _sys

from swaplab.core import quiet as _quiet

if "ipykernel" in _sys.modules or _os.environ.get("SWAPLAB_QUIET", "") not in ("", "0"):
    _quiet.install()  # before any module of the package imports TensorFlow or MediaPipe
else:
    _quiet.set_levels()

__version__ = "0.1.0"

SYNTHETIC_TAG = "synthetic media: face swapped with SwapLab (DeepFakes method)"
