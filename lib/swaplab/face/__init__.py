"""The shared base, faces: landmarks (MediaPipe), alignment, masks and blending, identity, face sets on disk.

What every stage needs to see, crop, paste and measure a face; it imports only swaplab.core.
Building a face set is the align stage's work; reading one is here.
"""
