"""Stage 01 (notebooks/01_collect): sources into data/<project>/<person>/sources/ with a manifest.

URLs through yt-dlp, local videos, image folders, sample keys, the webcam.
Imports only the shared base (core).
"""
