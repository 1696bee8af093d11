"""What ``verifily eval-cmd`` does once its flags are parsed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from verifily_cli.render import err, out, plural, print_json, progress, relative, table

if TYPE_CHECKING:
    from verifily_core.domain.evaluation import EvalResult


def run_evaluate(
    *,
    run: Path,
    test_data: Optional[list[str]],
    metrics: Optional[list[str]],
    slice_by: Optional[list[str]],
    hard_examples: Optional[int],
    device: Optional[str],
    batch_size: Optional[int],
    from_predictions: bool,
    json_output: bool,
    name: Optional[str] = None,
) -> None:
    from verifily_core.bootstrap import ports_for_run, signing_key
    from verifily_core.services.evaluation.evaluate import evaluate_run

    store, run_id, backend = ports_for_run(run)
    with progress("Evaluating", enabled=not json_output) as bar:
        result = evaluate_run(
            store,
            run_id,
            backend,
            test_data=absolute(test_data),
            metrics=metrics,
            slice_by=slice_by,
            hard_examples_n=hard_examples,
            device=device,
            batch_size=batch_size,
            from_predictions=from_predictions,
            progress=bar.step,
            name=name,
            signing_key=signing_key(),
        )
    if json_output:
        print_json(result.to_dict())
        return
    _print(result, run)


def absolute(files: Optional[list[str]]) -> Union[list[str], str, None]:
    """``--test-data`` files made absolute: one file stays a path, several stay a list (tagged)."""
    if not files:
        return None
    paths = [str(Path(f).expanduser().resolve()) for f in files]
    return paths[0] if len(paths) == 1 else paths


def run_evaluate_baseline(
    *,
    base_model: str,
    task: str,
    test_data: Optional[list[str]],
    config: Optional[Path],
    output_dir: Path,
    json_output: bool,
) -> None:
    """``eval-cmd --base-model``: the model as it is, evaluated into a new baseline run folder."""
    from verifily_core.bootstrap import ports_for_baseline
    from verifily_core.config import TrainConfig
    from verifily_core.errors import ConfigError
    from verifily_core.services.evaluation.baseline import baseline_config, run_baseline

    if not test_data:
        raise ConfigError(
            "eval-cmd --base-model needs --test-data FILE (there is no training config to take it from).",
            hint="verifily eval-cmd --base-model MODEL --task sft --test-data test.jsonl",
        )
    local = Path(base_model).expanduser()
    model = str(local.resolve()) if local.exists() else base_model
    trained = TrainConfig.from_yaml(config) if config is not None else None
    files = [str(Path(f).expanduser().resolve()) for f in test_data]
    cfg = baseline_config(model, task, files, trained)
    store, backend = ports_for_baseline(cfg, output_dir.expanduser().resolve())
    with progress("Evaluating the base model", enabled=not json_output) as bar:
        run = run_baseline(store, backend, cfg, progress=bar.step)
    if json_output:
        print_json({**run.eval_result.to_dict(), "artifact_path": run.artifact_path, "baseline": True})
        return
    out.print(f"Baseline run (base model, no training): {run.artifact_path}")
    _print(run.eval_result, Path(run.artifact_path))


def _print(result: EvalResult, run: Path) -> None:
    from verifily_cli.render import fmt_metric, print_slices
    from verifily_core.domain.runs import EvalFiles

    files = EvalFiles(None if result.evaluation == "main" else result.evaluation)
    out.print(
        f"Evaluation {files.label} of {result.run_id} on {result.test_data_path} "
        f"({result.num_examples} examples, {result.eval_duration_seconds:.1f}s)"
    )
    rows = [
        [name, fmt_metric(value)] for name, value in result.overall.items() if isinstance(value, (int, float))
    ]
    out.print(table(None, ["metric", "value"], rows))
    for name, value in result.overall.items():
        if isinstance(value, dict) and name != "confusion_matrix":
            out.print(f"  {name}: " + ", ".join(f"{k}={fmt_metric(v)}" for k, v in value.items()))
    matrix = result.overall.get("confusion_matrix")
    if isinstance(matrix, dict) and matrix.get("labels"):
        labels = matrix["labels"]
        out.print(
            table(
                "Confusion matrix (rows = true, columns = predicted)",
                ["", *labels],
                [[lab, *row] for lab, row in zip(labels, matrix["matrix"])],
            )
        )
    unseen = getattr(result, "unseen_labels", None)
    if unseen:
        err.print(f"[yellow]Note:[/yellow] test labels never seen in training (always wrong): {unseen}")
    for name, scores in (getattr(result, "trivial_baselines", None) or {}).items():
        shown = ", ".join(f"{k}={fmt_metric(v)}" for k, v in scores.items() if isinstance(v, (int, float)))
        label = f" (always {scores['label']!r})" if "label" in scores else ""
        out.print(f"Trivial baseline {name}{label}: {shown}")
    print_slices(result)
    base = relative(str(run))
    out.print(
        f"\nWrote {base}/{files.results}, {base}/{files.hard_examples} "
        f"({plural(len(result.hard_examples), 'hard example')}) and {base}/{files.predictions}"
    )
    if files.name is not None:
        out.print(
            f"The run's main result (eval/) is unchanged; compare this evaluation with "
            f"`verifily compare-cmd --eval {files.name} ...`."
        )
