"""The hf backend's framework-free side: model references, environment, hooks, offline hub ids."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import hf

from verifily_adapters.hf_backend.backend import HFModelBackend
from verifily_adapters.hf_backend.references import hub_offline, looks_like_path, resolve_reference
from verifily_core.errors import BackendError, ConfigError, DependencyMissingError


def _model_folder(tmp_path: Path, config: object = None) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_local_folder_with_config_is_valid(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path, {"model_type": "llama"})
    HFModelBackend().validate_model(str(folder), "sft")
    ref = resolve_reference(str(folder))
    assert ref.is_local and ref.local_files_only and Path(ref.name) == folder.resolve()


@pytest.mark.parametrize("config", [None, {"hidden_size": 4}])
def test_folder_without_usable_config_is_rejected(tmp_path: Path, config: object) -> None:
    folder = _model_folder(tmp_path, config)
    with pytest.raises(BackendError, match="config.json|model_type"):
        HFModelBackend().validate_model(str(folder), "sft")


def test_broken_config_json_names_the_file(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(BackendError, match="not valid JSON") as err:
        HFModelBackend().validate_model(str(folder), "sft")
    assert str(folder / "config.json") in str(err.value)


@pytest.mark.parametrize(
    "reference", ["./missing-model", "/no/such/model", "~/no-such-model-xyz", "a/b/c", "bad name!"]
)
def test_missing_paths_and_malformed_ids_are_rejected(reference: str) -> None:
    with pytest.raises(BackendError, match="Model folder not found"):
        HFModelBackend().validate_model(reference, "sft")


@pytest.mark.parametrize("reference", ["gpt2", "google/flan-t5-base", "Org_1/model-v2.5"])
def test_hub_ids_are_checked_for_form_only(reference: str) -> None:
    assert not looks_like_path(reference)
    HFModelBackend().validate_model(reference, "classification")


def test_unknown_task_is_refused() -> None:
    backend = HFModelBackend()
    assert (
        backend.supports("sft") and backend.supports("classification") and not backend.supports("regression")
    )
    with pytest.raises(BackendError, match="regression"):
        backend.validate_model("gpt2", "regression")


def test_offline_env_skips_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_offline()
    assert resolve_reference("org/model").local_files_only


def test_unreachable_hub_means_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("VERIFILY_ALLOW_HUB", raising=False)
    monkeypatch.setattr("verifily_adapters.hf_backend.references.HUB_HOST", "unreachable.invalid")
    assert hub_offline()
    monkeypatch.setenv("VERIFILY_ALLOW_HUB", "1")
    assert not hub_offline()


def test_environment_is_deterministic_strings() -> None:
    backend = HFModelBackend()
    env = backend.environment()
    assert env == backend.environment()
    assert all(isinstance(v, str) and v for v in env.values())
    for key in ("python", "platform", "torch", "transformers", "peft", "accelerate", "bitsandbytes", "gpus"):
        assert key in env
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))


def test_cheap_paths_never_import_torch(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path, {"model_type": "llama"})
    code = (
        "import sys\n"
        "import verifily_adapters.hf_backend.hooks as hooks\n"
        "cls = hooks.verifily_register_model_backend()\n"
        "b = cls()\n"
        f"b.environment(); b.validate_model({str(folder)!r}, 'sft'); b.validate_model('gpt2', 'sft')\n"
        "assert cls.PLUGIN_NAME == 'hf'\n"
        "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_hub_id_offline_fails_fast_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = hf.sft_config(Path("no-such-org/no-such-model-xyz"))
    start = time.perf_counter()
    with pytest.raises(BackendError, match="not in the Hugging Face cache") as err:
        hf.train(config, tmp_path / "run", hf.reverse_rows(4, 0))
    assert time.perf_counter() - start < 30
    assert "no-such-org/no-such-model-xyz" in str(err.value) and err.value.hint


def test_missing_model_folder_at_train_time(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="Model folder not found"):
        hf.train(hf.sft_config(tmp_path / "gone"), tmp_path / "run", hf.reverse_rows(4, 0))


def test_qlora_without_bitsandbytes_names_the_extra(
    tiny_causal: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = __import__("importlib.util").util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name, *a)
    )
    with pytest.raises(DependencyMissingError) as err:
        hf.train(
            hf.sft_config(tiny_causal, lora={"quantization": "4bit"}),
            tmp_path / "run",
            hf.reverse_rows(4, 0),
        )
    assert ".[qlora]" in (err.value.hint or "")


def test_quantized_full_finetune_is_a_config_error(tiny_causal: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lora.enabled"):
        hf.train(
            hf.sft_config(tiny_causal, lora={"quantization": "8bit", "enabled": False}),
            tmp_path / "r",
            hf.reverse_rows(4, 0),
        )
