"""The shared base, files and media: paths, atomic files, parameters, pinned assets, video and photo I/O.

Every other package may import it; it imports nothing of SwapLab's but itself.
Nothing here knows what a face is.
"""
