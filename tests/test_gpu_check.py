"""benchmarks/gpu_check.py: the GPU path (128 px-style cascade in mixed_float16, swap, evaluate) run end to end on the CPU
with tiny sizes, and its one-line refusal on a machine without a GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def _run(tmp_path, *extra, timeout=900):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, str(SCRIPT), "--data-dir", str(tmp_path / "data"), "--weights-dir", str(tmp_path / "weights"),
           "--work", str(tmp_path), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def test_without_a_gpu_it_says_so_in_one_line(tmp_path):
    r = _run(tmp_path, timeout=300)
    assert r.returncode != 0 and r.stderr.strip().splitlines()[-1].startswith("no GPU found"), r.stderr[-500:]


def test_the_mixed_float16_cascade_runs_end_to_end_on_the_cpu(tmp_path):
    r = _run(tmp_path, "--tiny", "--cpu-ok", "--minutes", "0.4", "--seconds", "1.0")
    assert r.returncode == 0, r.stderr[-2000:]
    last = r.stdout.strip().splitlines()[-1]
    assert "tiny_sketch mixed_float16:" in last and "steps/s, detail stage" in last and "self-swap fine detail" in last, last
    assert (tmp_path / "weights" / "gpucheck" / "gpu_check" / "detail.weights.h5").exists()
