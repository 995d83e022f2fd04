"""The shared base, the trained run: the networks, their losses, the detail stage, exemplar banks, run folders.

Train writes a run, swap and judge read it; this package imports only swaplab.core and swaplab.face.
Previews and loss plots of a run (viz) live here so that train and judge share them.
"""
