"""The hf backend's ``weights_close`` (``reproduce --atol``): safetensors compared value by value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from verifily_adapters.hf_backend.backend import HFModelBackend


def _weights(path: Path, **tensors: np.ndarray) -> Path:
    save_file(tensors, str(path))
    return path


def test_values_within_atol_are_close_and_beyond_it_are_not(tmp_path: Path) -> None:
    base = np.arange(6, dtype=np.float32).reshape(2, 3)
    a = _weights(tmp_path / "a.safetensors", w=base, b=np.zeros(3, np.float32))
    b = _weights(tmp_path / "b.safetensors", w=base + 1e-4, b=np.zeros(3, np.float32))
    backend = HFModelBackend()
    assert backend.weights_close(a, b, 1e-3) is None
    assert backend.weights_close(a, b, 1e-6) == "max |difference| 0.0001 > atol 1e-06"


def test_other_tensors_or_shapes_are_differences_whatever_the_tolerance(tmp_path: Path) -> None:
    a = _weights(tmp_path / "a.safetensors", w=np.zeros((2, 2), np.float32))
    renamed = _weights(tmp_path / "b.safetensors", v=np.zeros((2, 2), np.float32))
    reshaped = _weights(tmp_path / "c.safetensors", w=np.zeros((4,), np.float32))
    backend = HFModelBackend()
    assert "different tensors" in (backend.weights_close(a, renamed, 1.0) or "")
    assert backend.weights_close(a, reshaped, 1.0) == "tensor w has shape (2, 2) vs (4,)"


def test_other_files_must_be_identical(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"r": 8}')
    (tmp_path / "b.json").write_text('{"r": 8}')
    (tmp_path / "c.json").write_text('{"r": 9}')
    backend = HFModelBackend()
    assert backend.weights_close(tmp_path / "a.json", tmp_path / "b.json", 0.1) is None
    assert "only .safetensors" in (backend.weights_close(tmp_path / "a.json", tmp_path / "c.json", 0.1) or "")
