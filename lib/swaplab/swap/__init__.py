"""Stage 04 (notebooks/04_swap): video in, swapped video out, audio kept.

Face tracking and choice of targets, the frame pipeline, cuts, batch conversion.
Imports only the shared base (core, face, model).
"""
