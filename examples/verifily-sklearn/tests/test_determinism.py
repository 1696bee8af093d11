"""What the backend guarantees `verifily reproduce`: the same fit saves the same bytes, in any process.

Two fresh interpreters (different hash seeds, different memory layouts) must write identical files;
in one process the check would pass even with set or dict order leaking into the saved JSON.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FIT_AND_SAVE = """
import sys
from pathlib import Path
from verifily_core.config import TrainConfig
from verifily_core.conformance import sentiment_examples
from verifily_core.domain.training import TrainCallbacks, TrainRequest
from verifily_sklearn.backend import SklearnBackend

out = Path(sys.argv[1])
out.mkdir()
config = TrainConfig.from_dict({"task": "classification", "backend": "sklearn",
                                "base_model": "tfidf-logreg", "seed": 3})
examples = sentiment_examples(40, 2)
SklearnBackend().train(TrainRequest(config=config, train_examples=examples, val_examples=examples[:8],
                                    output_dir=out, labels=["negative", "positive"],
                                    base_model_path=config.base_model), TrainCallbacks())
"""


@pytest.mark.slow
def test_two_processes_save_byte_identical_models(tmp_path: Path) -> None:
    for hash_seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", FIT_AND_SAVE, str(tmp_path / hash_seed)],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert done.returncode == 0, done.stderr[-2000:]
    for name in ("model/pipeline.json", "model/labels.json"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
