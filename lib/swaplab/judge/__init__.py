"""Stages 05 and 06 (notebooks/05_evaluate, 06_compare): how good a swap is, and runs side by side.

Per-frame measures against their ceilings, figures, the report; experiment tracking.
Imports only the shared base (core, face, model).
"""
