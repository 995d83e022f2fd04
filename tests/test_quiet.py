"""Quiet by default: importing swaplab drops the C++ info/warning chatter of TensorFlow and MediaPipe
from stderr and keeps real errors."""

import os
import subprocess
import sys
from pathlib import Path

from swaplab.core import quiet as _quiet

LIB = str(Path(__file__).resolve().parents[1] / "lib")


def test_filter_drops_chatter_and_keeps_the_rest():
    data = (b"W0000 00:00:1796013461.816822   10097 inference_feedback_manager.cc:121] Feedback manager\n"
            b"I0000 00:00:1796013372.889022    7889 port.cc:153] oneDNN custom operations are on.\n"
            b"E0000 00:00:1796013372.889022    7889 meta_optimizer.cc:966] remapper failed: INVALID_ARGUMENT\n"
            b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
            b"E0000 00:00:1796014245.894137   18933 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n"
            b"E0000 00:00:1796013372.889022    7889 cuda_dnn.cc:12] a real error\n"
            b"Traceback (most recent call last):\n"
            b" 40%|####      | 4/10\r 50%|#####     | 5/10\rpartial")
    passed, rest = _quiet.filter_lines(data)
    assert passed == (b"E0000 00:00:1796013372.889022    7889 cuda_dnn.cc:12] a real error\n"
                      b"Traceback (most recent call last):\n 40%|####      | 4/10\r 50%|#####     | 5/10\r")
    assert rest == b"partial"


def test_tensorflow_and_mediapipe_start_quietly_and_errors_stay_visible(tmp_path):
    code = ("import swaplab\n"
            "from swaplab.face import landmarks\n"
            "import tensorflow as tf\n"
            "tf.constant(1.0) + 1\n"
            "import numpy as np\n"
            "landmarks.Landmarker(mode='image').detect(np.zeros((64, 64, 3), np.uint8))\n"
            "print('ready', flush=True)\n"
            "raise SystemExit('a real error: visible')\n")
    env = {**os.environ, "PYTHONPATH": LIB, "SWAPLAB_QUIET": "1"}  # as in a Jupyter kernel
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.stdout.strip() == "ready", out.stderr[-2000:]
    assert out.stderr.strip() == "a real error: visible", f"stderr holds more than the error:\n{out.stderr[-3000:]}"


def test_a_kernels_own_stderr_goes_to_its_log_not_the_console(tmp_path, capfd):
    """The demo runs each notebook's kernel with its process-level stderr in the step's kernel.log."""
    from swaplab.notebook.runner import _stderr_of_children

    log = tmp_path / "kernel.log"
    with _stderr_of_children(log):
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('[IPKernelApp] WARNING | noise\\n')"], check=True)
    sys.stderr.write("the demo's own line\n")
    err = capfd.readouterr().err
    assert "noise" not in err and "the demo's own line" in err
    assert log.read_text() == "[IPKernelApp] WARNING | noise\n"
