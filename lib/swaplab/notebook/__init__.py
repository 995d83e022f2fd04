"""Drivers over the stages: notebook widgets, the papermill runner, sweeps, the Colab setup.

The only package that may import several stages (like swaplab.demo).
Nothing below it imports it.
"""
