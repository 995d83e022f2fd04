"""The conversion pipeline: a video in, the same video with the face swapped out (04_swap).

Per frame::

    decode (ffmpeg process + reader thread)
      -> scene-cut check (``cuts``: at a cut, tracks, smoothing and MediaPipe's tracking start over)
      -> landmarks of every face (MediaPipe, VIDEO mode, on a copy at most ``detect_width`` wide)
      -> face tracks and the target choice (``targets``: the source person by identity, the largest, or all)
      -> One-Euro smoothing per track -> alignment matrix -> crop at the model's size (+ hair, ``masks``)
      -> [batch of ``batch_size`` faces] -> ONE model call (encoder + the other side's decoder)
      -> the run's detail stage (``detail.Cascade``): the face drawn again at 128-256 px by the target's detail net
      -> colour transfer + mask (crop space, at the drawn size) -> paste into the mask's box only -> label
      -> side by side (original | swapped) -> encode (writer thread + ffmpeg, audio muxed)

Three things overlap on a 2-core CPU: ffmpeg decodes and encodes in its own
processes, a "locate" thread runs landmarks + alignment for the frames ahead,
and the main thread runs the model and blending on the frames behind. MediaPipe,
TensorFlow and OpenCV all release the GIL while they work, so Python threads
are enough.

``convert`` checks its input as 01_collect does (``video.verify``) before any slow
work, and writes the output atomically (``video.VideoWriter``): an exception, a
KeyboardInterrupt or a SIGTERM (``files.sigterm_unwinds``) anywhere stops ffmpeg
and deletes the hidden temporary file, leaving nothing at the output path. What a
run killed outright (kill -9) leaves, the next conversion into the same folder
removes, and says so (``remove_partial_outputs``).
``preview_frame`` runs the very same per-frame code (``FramePipeline``) on one frame:
04_swap's preview, and ``widgets.scrubber`` for each frame and control it shows.

``SwapOptions`` holds the knobs of a conversion; ``SwapJob`` is 04_swap's checking
cell (``swaplab.core.params``): the project, run, input(s), output and options, all
checked and resolved before a frame is decoded. INPUT may be a folder or glob
(``is_batch``, ``input_files``); the batch driver above this module,
``batch.convert_many``, then converts each file with ``convert``.

Modules: ``options`` (SwapOptions, SwapJob), ``frames`` (FramePipeline, FaceJob), ``convert`` (the convert loop,
its threads and ConvertReport), ``preview`` (preview_frame). This module is the façade notebooks, tests and
benchmarks import: ``from swaplab.swap import pipeline as swap``.
"""

from swaplab.swap.convert import STRETCH_WARNING, ConvertReport, _batches, convert, convert_photo, remove_partial_outputs  # noqa: F401
from swaplab.swap.frames import STAGES, FaceJob, FramePipeline, configure_threads, faces_to_find  # noqa: F401
from swaplab.swap.options import MEDIA_EXTS, X264_PRESETS, SwapJob, SwapOptions, first_readable, input_files, is_batch  # noqa: F401
from swaplab.swap.preview import preview_frame  # noqa: F401
