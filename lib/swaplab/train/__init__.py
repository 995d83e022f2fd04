"""Stage 03 (notebooks/03_train): the training loop, its schedule, augmentation, strategies and workers.

Writes a run folder (swaplab.model.runs) that the later stages read.
Imports only the shared base (core, face, model).
"""
