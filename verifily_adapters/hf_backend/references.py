"""What a ``base_model`` string points at, decided without importing torch or transformers.

``train --dry-run`` and ``validate_model`` must stay framework-free, so a local folder is checked by
reading its ``config.json`` as plain JSON, and a hub id only for its form. At train time a hub id
needs the network: with none, transformers retries for ~48 s before failing. To fail fast, the
backend loads hub ids with ``local_files_only=True`` (the local HF cache still works) whenever
``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` is set or ``huggingface.co:443`` cannot be reached
within :data:`HUB_PROBE_TIMEOUT_S` seconds. ``VERIFILY_ALLOW_HUB=1`` skips the probe (for proxies
that let HTTPS through but not a bare TCP connect).
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

from verifily_adapters.hf_backend import gguf
from verifily_core.errors import BackendError

HUB_HOST = "huggingface.co"
HUB_PROBE_TIMEOUT_S = 1.5
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ModelRef:
    """A resolved model reference: what to pass to ``from_pretrained`` and how."""

    name: str
    is_local: bool
    local_files_only: bool
    #: Run the model repository's own Python code (``modeling_*.py``): only when the config's
    #: ``trust_remote_code`` says so; never taken from a run folder's files alone.
    trust_remote_code: bool = False


def looks_like_path(reference: str) -> bool:
    """Strings a user meant as a folder (``./m``, ``/abs``, ``~/m``, ``a/b/c``), not a hub id."""
    return (
        reference.startswith((".", "/", "~"))
        or "\\" in reference
        or reference.count("/") > 1
        or bool(re.match(r"^[A-Za-z]:", reference))
    )


def read_local_config(folder: Path) -> Dict[str, Any]:
    """The folder's ``config.json`` as a dict; BackendError naming what is missing or broken."""
    if not folder.is_dir():
        raise BackendError(
            f"Model path {folder} is not a folder.",
            hint="Point base_model at a folder saved with save_pretrained, a .gguf file, or a hub id.",
        )
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise BackendError(
            f"Model folder {folder} has no config.json, so it is not a Hugging Face model folder.",
            hint="Save the model with save_pretrained(), or point base_model at the folder with config.json.",
        )
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackendError(f"{config_file} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not data.get("model_type"):
        raise BackendError(
            f"{config_file} has no 'model_type', so transformers cannot tell which model it is."
        )
    return data


def validate_reference(base_model: str) -> None:
    """Cheap, framework-free check that ``base_model`` can plausibly be loaded."""
    local = Path(base_model).expanduser()
    if local.exists():
        found = gguf.gguf_file(local)
        if found is not None:
            gguf.check_gguf(found)
        else:
            read_local_config(local)
        return
    if looks_like_path(base_model) or not _HUB_ID.match(base_model):
        raise BackendError(
            f"Model folder not found: {base_model}",
            hint="Check the path (relative paths are read from the config file's folder), "
            "or give a hub id such as 'org/model'.",
        )


def hub_offline() -> bool:
    """Whether hub downloads must be skipped: offline mode requested, or the hub unreachable."""
    if any(os.environ.get(k, "").lower() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    if os.environ.get("VERIFILY_ALLOW_HUB", "").lower() in _TRUE:
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=HUB_PROBE_TIMEOUT_S):
            return False
    except OSError:
        return True


def resolve_reference(base_model: str, *, trust_remote_code: bool = False) -> ModelRef:
    """Validate ``base_model`` and decide whether hub access may be attempted. A GGUF file (or a
    folder holding one) resolves to its converted folder, converting it on first use (:mod:`gguf`)."""
    validate_reference(base_model)
    local = Path(base_model).expanduser()
    if local.exists():
        found = gguf.gguf_file(local)
        folder = gguf.converted_folder(found.resolve()) if found is not None else local.resolve()
        return ModelRef(str(folder), True, True, trust_remote_code)
    return ModelRef(base_model, False, hub_offline(), trust_remote_code)


def not_loadable(ref: ModelRef, exc: BaseException) -> BackendError:
    """The one message for a model that failed to load, naming the likely cause."""
    if ref.is_local:
        return BackendError(
            f"Could not load the model in {ref.name}: {type(exc).__name__}: {exc}",
            hint="Check that the folder was written by save_pretrained() and is complete.",
        )
    if ref.local_files_only:
        return BackendError(
            f"Model '{ref.name}' is not a local folder and is not in the Hugging Face cache, and the hub "
            f"cannot be used (offline: HF_HUB_OFFLINE is set or {HUB_HOST} is unreachable).",
            hint=f"Download it once with network access (hf download {ref.name}), or point base_model "
            "at a local folder. Set VERIFILY_ALLOW_HUB=1 if the hub is reachable through a proxy.",
        )
    return BackendError(
        f"Could not load model '{ref.name}' from the hub: {type(exc).__name__}: {exc}",
        hint="Check the model id and your network/authentication (HF_TOKEN).",
    )
