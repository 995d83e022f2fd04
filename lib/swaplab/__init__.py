"""SwapLab: a research workbench for the classic DeepFakes face swap.

One shared encoder, one decoder per person, trained on randomly warped aligned
faces; to swap, encode a face of A and decode it with B's decoder. The
numbered notebooks in ``notebooks/`` tell the story; this package does the work.
Modules are imported lazily by the notebooks (``from swaplab import video``) so
that importing ``swaplab`` itself never pulls in TensorFlow or MediaPipe.
"""

__version__ = "0.1.0"

SYNTHETIC_TAG = "synthetic media: face swapped with SwapLab (DeepFakes method)"
