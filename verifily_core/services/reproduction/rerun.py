"""``reproduce`` without ``--verify-only``: train the run again and compare what came out.

The hash chain proves the *inputs* are unchanged; a re-run proves they still produce the same
*outputs*. The new run (same config, so same config hash; a named run gets ``_2``) trains from the
original's frozen ``config.yaml`` and its recorded data files
and model (``training_info.json``) into a new run folder, then four things are compared: the hash
chain, the final train loss, the evaluation metrics, and the trained weights — every file under the
backend's weight entries (``ModelBackend.artifact_layout``: ``adapter/`` and ``model/`` for hf) of
both folders, hashed from disk (never taken from ``hashes.json``) — bitwise by default (what CPU
training guarantees), within ``atol`` when given (across machines or on GPUs; the backend's
``weights_close`` looks inside the files). The original run must match its seal before anything of
it is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from verifily_core.domain import hashchain
from verifily_core.domain.model_digest import base_model_findings
from verifily_core.domain.runs import ENVIRONMENT, EVAL_RESULTS, HASHES, RUN_META, TRAINING_INFO
from verifily_core.domain.training import TrainCallbacks
from verifily_core.errors import IntegrityError
from verifily_core.ports.model_backend import ModelBackend
from verifily_core.services.run_folder.frozen_config import frozen_config
from verifily_core.services.run_folder.seal import check_seal
from verifily_core.services.training.dependencies import TrainDependencies
from verifily_core.services.training.train import train


@dataclass
class RerunReport:
    original_run_id: str
    new_run_id: str
    new_run_path: str
    checks: Dict[str, hashchain.CheckStatus] = field(default_factory=dict)
    details: List[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """Strictly "PASS" or "FAIL"; a check that warned is listed in :attr:`warnings`."""
        return hashchain.overall_verdict(self.checks)

    @property
    def warnings(self) -> List[str]:
        return [f"{name}: WARN" for name, status in self.checks.items() if status == "WARN"]

    def to_dict(self) -> Dict[str, Any]:
        return {
            "original_run_id": self.original_run_id,
            "new_run_id": self.new_run_id,
            "new_run_path": self.new_run_path,
            "verdict": self.verdict,
            "warnings": self.warnings,
            "checks": self.checks,
            "details": self.details,
        }


def rerun(
    run_id: str,
    deps: TrainDependencies,
    *,
    atol: Optional[float] = None,
    callbacks: Optional[TrainCallbacks] = None,
) -> RerunReport:
    """Re-train ``run_id`` (in ``deps.store``) into a new run and compare the two.

    The original must match its seal first (IntegrityError naming each difference otherwise): its
    frozen config and training info are what the re-run is made from.
    """
    store = deps.store
    check_seal(store, run_id)
    info = store.read_json(run_id, TRAINING_INFO)
    config = frozen_config(store, run_id)
    new = train(
        config,
        deps,
        callbacks=callbacks,
        data_files=info["data_files"],
        base_model_path=info.get("base_model_path"),
    )
    report = RerunReport(run_id, new.run_id, new.artifact_path)
    _compare_chains(store, run_id, new.run_id, report)
    _compare_numbers("train_loss", _train_loss(store, run_id), new.metrics.get("train_loss"), atol, report)
    _compare_eval(store, run_id, new.run_id, atol, report)
    _compare_weights(store, run_id, new.run_id, atol, deps.backend, report)
    return report


def _compare_chains(store: Any, old: str, new: str, report: RerunReport) -> None:
    recorded = hashchain.HashChain.from_dict(store.read_json(old, HASHES))
    current = hashchain.HashChain.from_dict(store.read_json(new, HASHES))
    result = hashchain.verify_chain(
        recorded,
        current,
        run_id=old,
        recorded_env=_maybe_json(store, old, ENVIRONMENT),
        current_env=_maybe_json(store, new, ENVIRONMENT),
    )
    report.checks.update(result.checks)
    report.details.extend(result.details)
    if recorded.base_model is not None and current.base_model is not None:
        notes = base_model_findings(recorded.base_model, current.base_model)
        report.checks["base_model"] = "FAIL" if notes else "PASS"
        report.details.extend(notes)


def _train_loss(store: Any, run_id: str) -> Optional[float]:
    loss = store.read_json(run_id, RUN_META).get("metrics", {}).get("train_loss")
    return float(loss) if isinstance(loss, (int, float)) else None


def _close(a: Any, b: Any, atol: Optional[float]) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b if not atol else abs(a - b) <= atol
    return bool(a == b)


def _compare_numbers(name: str, old: Any, new: Any, atol: Optional[float], report: RerunReport) -> None:
    ok = _close(old, new, atol)
    report.checks[name] = "PASS" if ok else "FAIL"
    report.details.append(
        f"{name}: {old} vs {new}" + ("" if ok else f" (differs{' beyond atol ' + str(atol) if atol else ''})")
    )


def _compare_eval(store: Any, old: str, new: str, atol: Optional[float], report: RerunReport) -> None:
    if not store.exists(old, EVAL_RESULTS):
        return
    if not store.exists(new, EVAL_RESULTS):
        report.checks["eval_metrics"] = "FAIL"
        report.details.append("eval_metrics: the original run was evaluated, the re-run has no eval results")
        return
    a = store.read_json(old, EVAL_RESULTS).get("overall", {})
    b = store.read_json(new, EVAL_RESULTS).get("overall", {})
    differing = [k for k in a if isinstance(a[k], (int, float)) and not _close(a[k], b.get(k), atol)]
    report.checks["eval_metrics"] = "FAIL" if differing else "PASS"
    report.details.extend(f"eval {k}: {a[k]} vs {b.get(k)}" for k in differing)


def _weight_files(store: Any, run_id: str, weights: Sequence[str]) -> Dict[str, str]:
    """``relpath -> sha256`` of the files under the ``weights`` entries, hashed from disk now."""
    found, problems = store.file_digests(run_id, list(weights))
    if problems:
        raise IntegrityError(f"Run {run_id} holds entries that are not regular files:", problems=problems)
    return dict(found)


def _compare_weights(
    store: Any, old: str, new: str, atol: Optional[float], backend: ModelBackend, report: RerunReport
) -> None:
    weights = backend.artifact_layout().weights
    a, b = _weight_files(store, old, weights), _weight_files(store, new, weights)
    problems = [f"weights: {k} missing in one of the runs" for k in sorted(set(a) ^ set(b))]
    for key in sorted(set(a) & set(b)):
        if a[key] == b[key]:
            continue
        why = "bytes differ"
        if atol:
            why = backend.weights_close(store.local_dir(old) / key, store.local_dir(new) / key, atol) or ""
        if why:
            problems.append(f"weights: {key}: {why}")
    report.checks["weights"] = "FAIL" if problems or not a else "PASS"
    report.details.extend(
        problems
        or (
            [f"weights: {len(a)} file(s) bitwise identical"]
            if not atol
            else [f"weights: {len(a)} file(s) equal within atol {atol}"]
        )
    )
    if not a:
        report.details.append("weights: the original run recorded no weight files")


def _maybe_json(store: Any, run_id: str, relpath: str) -> Optional[Mapping[str, str]]:
    return store.read_json(run_id, relpath) if store.exists(run_id, relpath) else None
