"""Stage 01 (notebooks/01_collect): sources into data/<project>/<person>/sources/ with a manifest.

sources (SOURCES, the manifest, reports) and fetch (yt-dlp, ffmpeg cuts, copies, links; checked before renamed in).
Imports only the shared base (core).
"""
