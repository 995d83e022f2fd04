"""Stage 02 (notebooks/02_align): building a person's face set from their sources, and its coverage report.

config (AlignConfig), extract (per source, in workers), filters (identity, blur, duplicates), build, report.
Imports only the shared base; reading a face set is the base's (swaplab.face.faceset).
"""
