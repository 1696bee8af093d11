"""The evaluate use case on the shipped fakes: inputs from the run folder, what the model is asked,
the files written, reuse of saved predictions, and every foreseen bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import pytest
from helpers.data import write_jsonl
from sklearn import metrics as skm

from verifily_core.config import TrainConfig
from verifily_core.domain import metrics as m
from verifily_core.domain.examples import SFTExample
from verifily_core.domain.hashchain import HashChain
from verifily_core.domain.runs import (
    ADAPTER_DIR,
    CONFIG_FILE,
    EVAL_RESULTS,
    HARD_EXAMPLES,
    PREDICTIONS,
    TRAINING_INFO,
)
from verifily_core.domain.training import ClassPrediction
from verifily_core.errors import BackendError, DataError, EvaluationError, IntegrityError
from verifily_core.ports.model_backend import Predictor
from verifily_core.services.evaluation.evaluate import evaluate_run
from verifily_core.services.run_folder.seal import seal_run
from verifily_core.testing import InMemoryArtifactStore, ScriptedModelBackend, ScriptedPredictor

SFT_ROWS = [  # (output, prediction, tags)
    ("paris", "Paris.", {"source": "human", "difficulty": "easy"}),
    ("the red fox", "a red dog", {"source": "synthetic", "difficulty": "hard"}),
    ("42", "forty two", {"source": "human", "difficulty": "hard"}),
    ("blue sky", "blue", {"source": "synthetic", "difficulty": "easy"}),
    ("yes", "yes", {"source": "human", "difficulty": "easy"}),
    ("one two three", "three two one", {"source": "synthetic", "difficulty": "hard"}),
]
LOSS_PER_TOKEN = 0.6  # the scripted predictor's NLL per reference token: perplexity exp(0.6)


class SpyBackend(ScriptedModelBackend):
    """A scripted backend that keeps the generation settings it was asked for."""

    def __init__(self) -> None:
        super().__init__(losses=(1.0, LOSS_PER_TOKEN))
        self.generate_kwargs: List[Dict[str, int]] = []

    def load(self, run_dir: Path, info: Mapping[str, Any], *, device: Optional[str] = None) -> Predictor:
        predictor = super().load(run_dir, info, device=device)
        assert isinstance(predictor, ScriptedPredictor)
        spy = self.generate_kwargs
        original = predictor.generate

        def generate(examples: Sequence[SFTExample], **kwargs: int) -> List[str]:
            spy.append(kwargs)
            return original(examples, **kwargs)

        predictor.generate = generate  # type: ignore[method-assign]
        return predictor

    def calls(self, name: str) -> List[Any]:
        return [payload for method, payload in self.history if method == name]


class NoModelBackend(ScriptedModelBackend):
    """Proves that no model is loaded: loading fails the test."""

    def load(self, run_dir: Path, info: Mapping[str, Any], *, device: Optional[str] = None) -> Predictor:
        raise AssertionError("the model was loaded")


def _sft_test_file(tmp_path: Path, name: str = "test.jsonl") -> Path:
    return write_jsonl(
        tmp_path / name,
        [{"instruction": f"q{i}", "output": out, "tags": tags} for i, (out, _, tags) in enumerate(SFT_ROWS)],
    )


def _make_run(
    tmp_path: Path,
    *,
    task: str = "sft",
    test: Optional[Path] = None,
    labels: Sequence[str] = (),
    eval_section: Optional[Dict[str, Any]] = None,
    adapter: bool = True,
) -> Tuple[InMemoryArtifactStore, str]:
    store = InMemoryArtifactStore(local_root=tmp_path / "local")
    run_id = store.create_run().run_id
    config = TrainConfig.from_dict(
        {
            "task": task,
            "base_model": "tiny",
            "data_paths": {"train": "train.jsonl"},
            "eval": {"generation_max_new_tokens": 7, "generation_num_beams": 3, **(eval_section or {})},
        }
    )
    store.write_text(run_id, CONFIG_FILE, config.to_yaml())
    store.write_json(
        run_id,
        TRAINING_INFO,
        {
            "task": task,
            "labels": list(labels),
            "data_files": {"train": ["train.jsonl"], "val": None, "test": str(test) if test else None},
        },
    )
    if adapter:
        folder = store.local_dir(run_id) / ADAPTER_DIR
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text(json.dumps({"labels": list(labels)}), encoding="utf-8")
    seal_run(store, run_id, HashChain.build(config, {}, files=[]))  # evaluate_run checks the seal first
    return store, run_id


def _sft_backend() -> SpyBackend:
    backend = SpyBackend()
    backend.enqueue(*(pred for _, pred, _ in SFT_ROWS))
    return backend


# ---------------------------------------------------------------- the happy path


def test_sft_evaluation_computes_metrics_slices_hard_examples_and_writes_the_files(tmp_path: Path) -> None:
    test = _sft_test_file(tmp_path)
    store, run_id = _make_run(tmp_path, test=test)
    backend = _sft_backend()
    result = evaluate_run(store, run_id, backend, slice_by=["source", "difficulty"], hard_examples_n=3)

    em = [m.exact_match(p, r) for r, p, _ in SFT_ROWS]
    f1 = [m.token_f1(p, r) for r, p, _ in SFT_ROWS]
    assert list(result.overall) == ["exact_match", "f1", "perplexity", "rouge1", "rougeL"]
    assert result.overall["exact_match"] == pytest.approx(sum(em) / 6)
    assert result.overall["f1"] == pytest.approx(sum(f1) / 6)
    assert result.overall["perplexity"] == pytest.approx(math.exp(LOSS_PER_TOKEN))
    human = [i for i, (_, _, t) in enumerate(SFT_ROWS) if t["source"] == "human"]
    assert result.slices["source"]["human"]["n"] == 3
    assert result.slices["source"]["human"]["f1"] == pytest.approx(sum(f1[i] for i in human) / 3)
    assert set(result.slices["difficulty"]) == {"easy", "hard"}
    assert [h["f1"] for h in result.hard_examples] == pytest.approx(sorted(f1)[:3])
    assert result.num_examples == 6 and result.test_data_path == str(test)
    assert result.test_data_sha256 and result.test_data_sha256.startswith("sha256:")
    assert backend.generate_kwargs and all(
        k == {"max_new_tokens": 7, "num_beams": 3, "batch_size": 16} for k in backend.generate_kwargs
    )
    assert ("close", None) in backend.history

    saved = store.read_json(run_id, EVAL_RESULTS)
    assert saved == json.loads(json.dumps(result.to_dict()))
    assert list(store.iter_jsonl(run_id, HARD_EXAMPLES)) == saved["hard_examples"]
    rows = list(store.iter_jsonl(run_id, PREDICTIONS))
    assert [(r["reference"], r["prediction"], r["tags"]) for r in rows] == SFT_ROWS
    assert [r["scores"]["f1"] for r in rows] == pytest.approx(f1)


def test_only_what_the_metrics_need_is_computed(tmp_path: Path) -> None:
    store, run_id = _make_run(tmp_path, test=_sft_test_file(tmp_path))
    backend = _sft_backend()
    result = evaluate_run(store, run_id, backend, metrics=["perplexity"])
    assert backend.calls("generate") == [] and len(backend.calls("reference_loss")) == 1
    assert result.overall == pytest.approx({"perplexity": math.exp(LOSS_PER_TOKEN)})
    assert result.hard_examples == []  # no generation, nothing to rank by F1

    backend = _sft_backend()
    evaluate_run(store, run_id, backend, metrics=["f1"], reuse_predictions=False)
    assert backend.calls("reference_loss") == [] and backend.calls("generate")


def test_a_metric_added_to_the_registry_is_computed_sliced_and_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chars = m.per_example("answer_chars", lambda prediction, _reference: float(len(prediction)))
    monkeypatch.setattr(m, "METRICS", (*m.METRICS, m.mean_metric("answer_chars", chars, "answer characters")))
    store, run_id = _make_run(tmp_path, test=_sft_test_file(tmp_path))
    backend = _sft_backend()
    result = evaluate_run(store, run_id, backend, metrics=["answer_chars"], slice_by=["source"])

    lengths = {
        source: [len(p) for _, p, t in SFT_ROWS if t["source"] == source] for source in ("human", "synthetic")
    }
    assert backend.calls("reference_loss") == [] and backend.calls("generate")
    assert result.overall == pytest.approx({"answer_chars": sum(map(len, (p for _, p, _ in SFT_ROWS))) / 6})
    assert {k: v["answer_chars"] for k, v in result.slices["source"].items()} == pytest.approx(
        {source: sum(values) / len(values) for source, values in lengths.items()}
    )
    rows = list(store.iter_jsonl(run_id, PREDICTIONS))
    assert [r["scores"]["answer_chars"] for r in rows] == [len(p) for _, p, _ in SFT_ROWS]


def test_the_runs_eval_section_gives_the_defaults_and_arguments_override_it(tmp_path: Path) -> None:
    section = {"metrics": ["f1"], "slice_by_tags": ["source"], "hard_examples": 2, "batch_size": 2}
    store, run_id = _make_run(tmp_path, test=_sft_test_file(tmp_path), eval_section=section)
    backend = _sft_backend()
    progress: List[Tuple[int, int]] = []
    result = evaluate_run(store, run_id, backend, progress=lambda done, total: progress.append((done, total)))
    assert result.metrics == ["f1"] and list(result.overall) == ["f1"]
    assert list(result.slices) == ["source"] and len(result.hard_examples) == 2
    assert {k["batch_size"] for k in backend.generate_kwargs} == {2}
    assert all(len(chunk) <= 2 * 8 for chunk in backend.calls("generate"))
    assert progress[0] == (0, 6) and progress[-1] == (6, 6)

    result = evaluate_run(
        store,
        run_id,
        _sft_backend(),
        metrics=["exact_match"],
        slice_by=["difficulty"],
        hard_examples_n=1,
        reuse_predictions=False,
    )
    assert list(result.overall) == ["exact_match"] and list(result.slices) == ["difficulty"]
    assert len(result.hard_examples) == 1


def test_classification_counts_unseen_labels_and_matches_sklearn(tmp_path: Path) -> None:
    rows = [
        ("good film", "pos", "a"),
        ("bad film", "neg", "a"),
        ("fine", "pos", "b"),
        ("awful", "neg", "b"),
        ("meh", "maybe", "a"),
    ]
    test = write_jsonl(
        tmp_path / "cls.jsonl", [{"text": t, "label": y, "tags": {"source": s}} for t, y, s in rows]
    )
    store, run_id = _make_run(tmp_path, task="classification", test=test, labels=["neg", "pos"])
    backend = ScriptedModelBackend()
    answers = [("pos", 0.8), ("pos", 0.7), ("pos", 0.9), ("neg", 0.1), ("neg", 0.2)]  # (label, p(pos))
    backend.enqueue(*(ClassPrediction(lab, {"pos": p, "neg": 1 - p}) for lab, p in answers))
    result = evaluate_run(store, run_id, backend, slice_by=["source"])

    y_true = [y for _, y, _ in rows]
    y_pred = [lab for lab, _ in answers]
    assert result.unseen_labels == {"maybe": 1}
    assert result.overall["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    want_f1 = skm.f1_score(y_true, y_pred, average="macro", zero_division=0)
    assert result.overall["macro_f1"] == pytest.approx(want_f1)
    order = ["maybe", "neg", "pos"]
    assert result.overall["confusion_matrix"] == {
        "labels": order,
        "matrix": skm.confusion_matrix(y_true, y_pred, labels=order).tolist(),
    }
    assert list(result.overall["recall_per_class"]) == order
    assert [h["index"] for h in result.hard_examples] == [4, 1]  # misclassified, lowest p(true) first
    assert result.to_dict()["unseen_labels"] == {"maybe": 1}


# ---------------------------------------------------------------- reuse of predictions


def test_from_predictions_recomputes_any_slice_without_the_model(tmp_path: Path) -> None:
    store, run_id = _make_run(tmp_path, test=_sft_test_file(tmp_path))
    first = evaluate_run(store, run_id, _sft_backend())
    again = evaluate_run(
        store, run_id, NoModelBackend(), from_predictions=True, slice_by=["difficulty"], hard_examples_n=2
    )
    assert again.overall == pytest.approx(first.overall)
    assert again.from_predictions and again.test_data_sha256 == first.test_data_sha256
    assert again.slices["difficulty"]["hard"]["n"] == 3
    assert [h["rank"] for h in again.hard_examples] == [1, 2]


def test_unchanged_test_data_reuses_predictions_and_changed_data_does_not(tmp_path: Path) -> None:
    test = _sft_test_file(tmp_path)
    store, run_id = _make_run(tmp_path, test=test)
    first = evaluate_run(store, run_id, _sft_backend())
    reused = evaluate_run(store, run_id, NoModelBackend(), slice_by=["source"])
    assert reused.from_predictions and reused.overall == pytest.approx(first.overall)

    test.write_text(test.read_text(encoding="utf-8").replace("paris", "rome"), encoding="utf-8")
    backend = _sft_backend()
    fresh = evaluate_run(store, run_id, backend)
    assert backend.calls("load") and not fresh.from_predictions
    assert fresh.test_data_sha256 != first.test_data_sha256


def test_a_run_trained_without_a_test_set_takes_its_first_evaluation_as_the_main_one(tmp_path: Path) -> None:
    store, run_id = _make_run(tmp_path, test=None)
    first_file = _sft_test_file(tmp_path, "first.jsonl")
    first = evaluate_run(store, run_id, _sft_backend(), test_data=str(first_file))
    assert first.evaluation == "main" and store.exists(run_id, "eval/eval_results.json")

    again = evaluate_run(store, run_id, NoModelBackend(), test_data=str(first_file))
    assert again.evaluation == "main" and again.from_predictions

    later = _sft_test_file(tmp_path, "later.jsonl")
    other = evaluate_run(store, run_id, _sft_backend(), test_data=str(later))
    assert other.evaluation == "later" and store.exists(run_id, "eval/later/eval_results.json")
    assert store.read_json(run_id, "eval/eval_results.json")["test_data_path"] == str(first_file)


def test_from_predictions_says_what_is_missing(tmp_path: Path) -> None:
    own_test = _sft_test_file(tmp_path)
    store, run_id = _make_run(tmp_path, test=own_test)
    with pytest.raises(EvaluationError, match="no eval/predictions.jsonl") as err:
        evaluate_run(store, run_id, NoModelBackend(), from_predictions=True)
    assert "without --from-predictions" in (err.value.hint or "")
    evaluate_run(store, run_id, _sft_backend(), metrics=["f1"])
    with pytest.raises(EvaluationError, match="cannot give: perplexity"):
        evaluate_run(store, run_id, NoModelBackend(), from_predictions=True, metrics=["perplexity"])
    other = write_jsonl(tmp_path / "other.jsonl", [{"instruction": "x", "output": "y"}])
    with pytest.raises(EvaluationError, match="no eval/other/predictions.jsonl"):  # other data: own folder
        evaluate_run(
            store, run_id, NoModelBackend(), from_predictions=True, metrics=["f1"], test_data=str(other)
        )
    evaluate_run(store, run_id, _sft_backend(), metrics=["f1"], test_data=str(own_test), name="again")
    with pytest.raises(EvaluationError, match="other test data"):
        evaluate_run(
            store,
            run_id,
            NoModelBackend(),
            from_predictions=True,
            metrics=["f1"],
            test_data=str(other),
            name="again",
        )


def test_events_frame_the_evaluation(tmp_path: Path) -> None:
    store, run_id = _make_run(tmp_path, test=_sft_test_file(tmp_path))
    events: List[Tuple[str, Dict[str, Any]]] = []
    evaluate_run(store, run_id, _sft_backend(), on_event=lambda name, data: events.append((name, dict(data))))
    assert [name for name, _ in events] == ["eval_start", "eval_end"]
    assert events[0][1]["num_examples"] == 6 and events[1][1]["eval_duration_seconds"] >= 0


# ---------------------------------------------------------------- bad input


def test_a_run_without_a_seal_says_it_may_have_been_interrupted(tmp_path: Path) -> None:
    store = InMemoryArtifactStore(local_root=tmp_path)
    run_id = store.create_run().run_id
    with pytest.raises(IntegrityError, match="has no hashes.json") as err:
        evaluate_run(store, run_id, ScriptedModelBackend())
    assert "interrupted" in (err.value.hint or "") and "run_meta.json" in (err.value.hint or "")
    assert err.value.exit_code == 1


def test_no_test_data_anywhere_is_a_clear_error(tmp_path: Path) -> None:
    store, run_id = _make_run(tmp_path, test=None)
    with pytest.raises(EvaluationError, match="No test data") as err:
        evaluate_run(store, run_id, ScriptedModelBackend())
    assert "--test-data" in (err.value.hint or "")


def test_a_run_without_adapter_or_model_names_the_folder(tmp_path: Path) -> None:
    store, run_id = _make_run(tmp_path, test=_sft_test_file(tmp_path), adapter=False)
    with pytest.raises(EvaluationError, match="no adapter/ or model/ folder"):
        evaluate_run(store, run_id, ScriptedModelBackend())


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"metrics": ["exact_match", "bogus_metric"]}, ["bogus_metric", "Available: exact_match"]),
        ({"slice_by": ["nosuchkey"]}, ["nosuchkey", "difficulty, source"]),
        ({"hard_examples_n": -1}, ["hard_examples"]),
    ],
)
def test_bad_arguments_fail_before_the_model_is_loaded(
    tmp_path: Path, kwargs: Dict[str, Any], words: List[str]
) -> None:
    store, run_id = _make_run(tmp_path, test=_sft_test_file(tmp_path))
    with pytest.raises(EvaluationError) as err:
        evaluate_run(store, run_id, NoModelBackend(), **kwargs)
    for word in words:
        assert word in str(err.value)
    assert not store.exists(run_id, EVAL_RESULTS)


def test_test_data_of_the_other_task_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    store, run_id = _make_run(tmp_path, test=_sft_test_file(tmp_path))
    other = write_jsonl(tmp_path / "cls_test.jsonl", [{"text": "hi", "label": "pos"}])
    with pytest.raises(DataError, match="cls_test.jsonl"):
        evaluate_run(store, run_id, NoModelBackend(), test_data=str(other))


def test_a_backend_that_loses_answers_is_a_backend_error(tmp_path: Path) -> None:
    class Lossy(ScriptedModelBackend):
        def load(self, run_dir: Path, info: Mapping[str, Any], *, device: Optional[str] = None) -> Predictor:
            predictor = super().load(run_dir, info, device=device)
            predictor.generate = lambda examples, **_: []  # type: ignore[method-assign]
            return predictor

    store, run_id = _make_run(tmp_path, test=_sft_test_file(tmp_path))
    with pytest.raises(BackendError, match="returned 0 generate results for 6"):
        evaluate_run(store, run_id, Lossy(), metrics=["f1"])
