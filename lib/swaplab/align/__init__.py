"""Stage 02 (notebooks/02_align): the coverage report of a face set, A against B.

The face set itself (building and reading) is in swaplab.face.faceset.
Imports only the shared base.
"""
