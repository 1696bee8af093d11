"""GGUF base models: a llama.cpp ``.gguf`` file converted once into an ordinary Hugging Face folder.

Transformers reads GGUF files (``from_pretrained(folder, gguf_file=name)``, with the ``gguf``
package) by dequantising every tensor to float, which takes ~15 s for a 135M-parameter model on two
cores, every time. So the first load converts the file once (weights dequantised to float32, the
tokenizer and its chat template taken from the same file) into a cache folder keyed by the file's
SHA-256, ``$VERIFILY_CACHE_DIR/gguf/<sha256>/`` (default ``$XDG_CACHE_HOME/verifily`` or
``~/.cache/verifily``); later loads read that folder in about a second. A changed file has another
digest, hence another folder: a stale conversion is never used. Deleting the folder is always safe
(it is rebuilt on the next load): ``rm -rf ~/.cache/verifily/gguf``.

The conversion is written to a temporary folder and renamed into place, so an interrupted first load
leaves no half folder behind and two processes converting at once both end with a complete one.
Transformers 5 refuses ``save_pretrained`` on a model it dequantised from GGUF until the quantizer
record is dropped (``hf_quantizer`` and ``config.quantization_config``): the weights are plain floats
by then, so dropping it is exact.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from verifily_core.errors import BackendError, DependencyMissingError

GGUF_SUFFIX = ".gguf"
GGUF_MAGIC = b"GGUF"
DIGEST_FILE = "source.sha256"


def gguf_file(path: Path) -> Optional[Path]:
    """The GGUF file ``path`` names: the file itself, or the only ``.gguf`` in a folder that holds no
    ``config.json`` (a Hugging Face folder wins over a stray GGUF beside it). None otherwise."""
    if path.is_file():
        return path if path.suffix.lower() == GGUF_SUFFIX else None
    if not path.is_dir() or (path / "config.json").is_file():
        return None
    found = sorted(p for p in path.iterdir() if p.suffix.lower() == GGUF_SUFFIX and p.is_file())
    if len(found) > 1:
        raise BackendError(
            f"Model folder {path} holds {len(found)} GGUF files ({', '.join(p.name for p in found)}), "
            "so it is not clear which one to load.",
            hint="Point base_model at the .gguf file itself.",
        )
    return found[0] if found else None


def check_gguf(path: Path) -> None:
    """Framework-free check (``train --dry-run``): the file starts with the GGUF magic bytes."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise BackendError(f"Cannot read the GGUF file {path}: {exc}") from exc
    if magic != GGUF_MAGIC:
        raise BackendError(
            f"{path} ends in .gguf but is not a GGUF file (it does not start with b'GGUF').",
            hint="Check the file (a Git LFS pointer or a partial download looks like this).",
        )


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (the cache key and the base model's digest)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_root() -> Path:
    """``$VERIFILY_CACHE_DIR``, else ``$XDG_CACHE_HOME/verifily``, else ``~/.cache/verifily``."""
    if os.environ.get("VERIFILY_CACHE_DIR"):
        return Path(os.environ["VERIFILY_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "verifily"


def converted_folder(path: Path) -> Path:
    """The Hugging Face folder converted from the GGUF file ``path`` (converting it on first use)."""
    check_gguf(path)
    digest = sha256_of(path)
    target = cache_root() / "gguf" / digest
    if (target / DIGEST_FILE).is_file():
        return target
    if importlib.util.find_spec("gguf") is None:
        raise DependencyMissingError(
            f"Loading the GGUF file {path} needs the gguf package, which is not installed.",
            hint='pip install -e ".[gguf]"  (make install includes it)',
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=target.parent))
    try:
        _convert(path, work)
        (work / DIGEST_FILE).write_text(digest + "\n", encoding="utf-8")
        try:
            os.replace(work, target)
        except OSError:
            if not (target / DIGEST_FILE).is_file():  # not a concurrent conversion that won the race
                raise
    except Exception as exc:  # noqa: BLE001 - every vendor failure becomes one clear message
        if isinstance(exc, BackendError):
            raise
        raise BackendError(
            f"Could not convert the GGUF file {path}: {type(exc).__name__}: {exc}",
            hint="Transformers dequantises GGUF files of the architectures it knows (llama, mistral, "
            "qwen2, ...); check that the file is complete.",
        ) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _convert(path: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(path.parent), path.name
    # transformers draws a plain tqdm bar for the dequantisation that its progress-bar switch does
    # not reach; the CLI draws its own progress, and failures are raised, not printed
    with contextlib.redirect_stderr(io.StringIO()):
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # the weights are dequantised floats now; transformers 5 refuses to save while this record stays
    # (transformers sets the attribute at load time; torch's Module.__setattr__ stub admits only modules
    # and tensors, which is what mypy checks an undeclared attribute against)
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
