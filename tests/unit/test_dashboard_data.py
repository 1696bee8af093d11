"""The dashboard's data layer: rows, details, hard examples, comparisons, charts, id checks.

Hand-made broken folders run on the in-memory fake store; the realistic runs come from the real
train and evaluate use cases (``samples``) on the local store, as the dashboard serves them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_cli.dashboard import comparison, data, plots
from verifily_cli.dashboard.detail import run_detail, verify_view
from verifily_cli.dashboard.logs import from_log_history, loss_history
from verifily_cli.dashboard.samples import DEMO_RUNS, write_demo_runs
from verifily_core.errors import CompareError, RunNotFoundError
from verifily_core.testing import InMemoryArtifactStore

ENV = {"python": "3.11", "backend": "sample"}
Demo = Tuple[LocalArtifactStore, List[str], Path]


def env_for(_store: Any, _run_id: str) -> Dict[str, str]:
    return dict(ENV)


def meta(run_id: str, **extra: Any) -> Dict[str, Any]:
    return {
        "run_id": run_id,
        "status": "completed",
        "task": "sft",
        "base_model": "tiny",
        "started_at": "2026-01-01T00:00:00Z",
        "duration_seconds": 12.5,
        "metrics": {"train_loss": 0.5, "eval": {"f1": 0.25}},
        **extra,
    }


@pytest.fixture
def fake() -> InMemoryArtifactStore:
    store = InMemoryArtifactStore()
    for rid in ("run_a", "run_b", "run_c", "run_d"):
        store.create_run(rid)
    ids = sorted(store.files)
    a, b, c, d = ids
    store.write_json(a, "run_meta.json", meta(a))
    store.write_json(
        a,
        "train_summary.json",
        {
            "train_loss": 0.5,
            "log_history": [
                {"step": 1, "loss": 2.0},
                {"step": 2, "loss": 1.0, "eval_loss": 1.5},
                {"step": "x", "loss": 9},
            ],
        },
    )
    store.write_json(
        a,
        "eval/eval_results.json",
        {
            "task": "sft",
            "overall": {"exact_match": 0.5, "f1": 0.75},
            "slices": {"source": {"human": {"n": 2, "f1": 0.5}}},
        },
    )
    store.write_text(b, "run_meta.json", '{"run_id": "' + b + '", "status": "comp')
    store.write_json(c, "run_meta.json", {"run_id": c, "status": "running"})
    store.write_json(d, "run_meta.json", meta(d, status="failed", error="Out of memory\ntrace"))
    store.write_json(d, "train_summary.json", {})
    return store


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    base = tmp_path_factory.mktemp("demo")
    ids = write_demo_runs(base / "runs", base / "data", ENV)
    outside = base / "outside"
    outside.mkdir()
    (outside / "run_meta.json").write_text(json.dumps(meta("SECRET")), encoding="utf-8")
    (base / "runs" / "run_20990101_evil").symlink_to(outside, target_is_directory=True)
    return LocalArtifactStore(base / "runs"), ids, base


def named(ids: List[str], name: str) -> str:
    return next(i for i in ids if i.endswith("_" + name))


# ---------------------------------------------------------------------- runs table


def test_run_rows_mark_corrupt_and_incomplete_folders_and_prefer_eval_results(
    fake: InMemoryArtifactStore,
) -> None:
    rows = {r.run_id: r for r in data.run_rows(fake)}
    a, b, c, d = sorted(fake.files)
    assert [r.run_id for r in data.run_rows(fake)] == [d, c, b, a], "newest (highest id) first"
    assert (rows[a].status, rows[a].eval_metric, rows[a].eval_value) == ("completed", "f1", 0.75)
    assert rows[a].train_loss == 0.5 and rows[a].duration_s == 12.5
    assert rows[b].status == data.CORRUPT and "not valid JSON" in rows[b].note
    assert rows[c].status == data.INCOMPLETE and "task" in rows[c].note
    assert rows[d].status == "failed" and rows[d].note == "Out of memory"
    assert rows[d].eval_value == 0.25, "run_meta's recorded eval when there is no eval_results.json"
    assert len(rows[a].cells()) == len(data.RUN_HEADERS) == len(data.RUN_TYPES)


def test_a_completed_run_without_train_summary_is_incomplete() -> None:
    store = InMemoryArtifactStore()
    rid = store.create_run("x").run_id
    store.write_json(rid, "run_meta.json", meta(rid))
    assert data.run_row(store, rid).status == data.INCOMPLETE


@pytest.mark.parametrize("bad", ["../outside", "/etc", "..%2Foutside", "%2e%2e", "", None, 7, "run_a/../x"])
def test_checked_run_id_rejects_anything_but_a_listed_run(fake: InMemoryArtifactStore, bad: Any) -> None:
    with pytest.raises(RunNotFoundError):
        data.checked_run_id(fake, bad)


def test_symlinked_escape_is_neither_listed_nor_readable(demo: Demo) -> None:
    store, ids, base = demo
    assert "run_20990101_evil" not in data.run_ids(store)
    for bad in ("run_20990101_evil", str(base / "outside"), "../outside"):
        with pytest.raises(RunNotFoundError):
            run_detail(store, bad)
        with pytest.raises(RunNotFoundError):
            data.hard_examples(store, bad)
        with pytest.raises(RunNotFoundError):
            comparison.compare_runs(store, [ids[0], bad], "f1")


# ---------------------------------------------------------------------- detail and loss curves


def test_loss_history_reads_log_history_and_skips_malformed_entries(fake: InMemoryArtifactStore) -> None:
    history = loss_history(fake, sorted(fake.files)[0])
    assert history.curves == {"loss": [(1.0, 2.0), (2.0, 1.0)], "eval_loss": [(2.0, 1.5)]}
    assert "log_history" in history.source
    assert from_log_history([None, {"step": True, "loss": 1}, {"step": 3}]) == {"loss": [], "eval_loss": []}


def test_loss_history_falls_back_to_tensorboard_events(demo: Demo) -> None:
    store, ids, _ = demo
    rid = named(ids, "baseline")
    sample = next(s for s in DEMO_RUNS if s.name == "baseline")
    with_history = loss_history(store, rid)
    assert "log_history" in with_history.source
    assert [v for _s, v in with_history.curves["loss"]] == pytest.approx(list(sample.losses))
    summary = json.loads((store.root / rid / "train_summary.json").read_text(encoding="utf-8"))
    summary.pop("log_history")  # a run written before train_summary.json carried its log history
    store.write_json(rid, "train_summary.json", summary)
    history = loss_history(store, rid)
    assert "TensorBoard" in history.source
    assert [v for _s, v in history.curves["loss"]] == pytest.approx(list(sample.losses))
    assert len(history.curves["eval_loss"]) == len(sample.losses) // 2


def test_run_detail_keeps_what_it_can_read_and_lists_the_rest(demo: Demo) -> None:
    store, ids, _ = demo
    rid = named(ids, "baseline")
    detail = run_detail(store, rid)
    results = json.loads((store.root / rid / "eval" / "eval_results.json").read_text(encoding="utf-8"))
    assert detail.eval_overall == results["overall"] and detail.main_metric == "f1"
    headers, rows = detail.slice_table("source")
    assert headers[:3] == ["Slice", "n", "exact_match"]
    assert {r[0]: r[1] for r in rows} == {v: c["n"] for v, c in results["slices"]["source"].items()}
    assert dict(detail.hashes)["reproducibility_hash"].startswith("sha256:")
    assert dict(detail.usage)["device"] == "cpu" and not detail.problems

    broken = InMemoryArtifactStore()
    bid = broken.create_run("b").run_id
    broken.write_json(bid, "run_meta.json", meta(bid))
    broken.write_text(bid, "usage_summary.json", "{")
    broken.write_json(bid, "eval/eval_results.json", {"overall": {"f1": 0.5, "note": "x"}, "slices": "bad"})
    detail = run_detail(broken, bid)
    assert detail.usage == [] and detail.problems == [
        "usage_summary.json is not valid JSON (half-written or edited by hand)"
    ]
    assert detail.eval_overall == {"f1": 0.5} and detail.slices == {}


def test_live_verify_passes_then_fails_after_tampering(tmp_path: Path) -> None:
    ids = write_demo_runs(tmp_path / "runs", tmp_path / "data", ENV)
    store = LocalArtifactStore(tmp_path / "runs")
    rid = named(ids, "baseline")
    assert verify_view(store, rid, env_for).verdict == "PASS"
    results = store.root / rid / "eval" / "eval_results.json"
    results.write_text(results.read_text(encoding="utf-8").replace("0.", "0.9", 1), encoding="utf-8")
    view = verify_view(store, rid, env_for)
    assert view.verdict == "FAIL" and any("eval/eval_results.json" in line for line in view.lines)
    assert verify_view(store, ids[-1], env_for).verdict == "not checked", "the corrupt folder has no chain"


# ---------------------------------------------------------------------- hard examples


def test_hard_examples_filter_by_tag_value_and_survive_a_broken_jsonl(fake: InMemoryArtifactStore) -> None:
    rid = sorted(fake.files)[0]
    rows = [
        {"rank": 1, "f1": 0.0, "input": "a", "tags": {"source": "human"}},
        {"rank": 2, "f1": 0.5, "input": "b", "tags": {"source": "synthetic", "difficulty": "hard"}},
    ]
    fake.write_jsonl(rid, "eval/hard_examples.jsonl", rows)
    got = data.hard_examples(fake, rid)
    assert data.tag_choices(got) == [data.ALL_TAGS, "difficulty=hard", "source=human", "source=synthetic"]
    assert [r["input"] for r in data.filter_by_tag(got, "source=synthetic")] == ["b"]
    assert data.filter_by_tag(got, data.ALL_TAGS) == got
    assert data.hard_cells(got[1]) == [2, 0.5, "source=synthetic, difficulty=hard", "b", "", ""]
    fake.write_text(rid, "eval/hard_examples.jsonl", '{"rank": 1}\n{"ra')
    fake.write_json(rid, "eval/eval_results.json", {"overall": {}, "hard_examples": rows[:1]})
    assert [r["input"] for r in data.hard_examples(fake, rid)] == ["a"]


# ---------------------------------------------------------------------- compare


def test_compare_tables_come_from_the_compare_service(demo: Demo) -> None:
    store, ids, _ = demo
    first, second = named(ids, "baseline"), named(ids, "lower-lr")
    choices, preferred = comparison.metric_choices(store, [first, second])
    assert preferred == "f1" and "exact_match" in choices
    result = comparison.compare_runs(store, [first, second], None)
    f1 = {
        r: json.loads((store.root / r / "eval" / "eval_results.json").read_text())["overall"]["f1"]
        for r in (first, second)
    }
    _h, overall = comparison.overall_table(result)
    assert overall[1][2] == pytest.approx(f1[second] - f1[first], abs=1e-4)
    _h, slices = comparison.slice_table(result)
    assert {row[0] for row in slices} == {
        "source=human",
        "source=synthetic",
        "difficulty=easy",
        "difficulty=hard",
    }
    headers, diff = comparison.config_diff_table(result)
    assert headers == ["Config key", first, second]
    assert {row[0] for row in diff} >= {"training.learning_rate", "lora.r"}
    with pytest.raises(CompareError, match="not been evaluated"):
        comparison.compare_runs(store, [first, named(ids, "dry")], "f1")


# ---------------------------------------------------------------------- charts


def test_charts_draw_the_numbers_they_are_given(demo: Demo) -> None:
    store, ids, _ = demo
    detail = run_detail(store, named(ids, "baseline"))
    loss = plots.loss_figure(detail.loss).axes[0]
    assert [list(line.get_ydata()) for line in loss.get_lines()] == [
        [v for _s, v in detail.loss.curves["loss"]],
        [v for _s, v in detail.loss.curves["eval_loss"]],
    ]
    bars = plots.slices_figure(detail.slices, "f1").axes
    assert [p.get_height() for p in bars[0].patches] == pytest.approx(
        [c["f1"] for c in detail.slices["source"].values()]
    )
    result = comparison.compare_runs(store, [named(ids, "baseline"), named(ids, "lower-lr")], "f1")
    deltas = plots.deltas_figure(result).axes[0]
    assert deltas.patches[0].get_width() == pytest.approx(result.deltas[result.runs[1]])
    assert plots.slices_figure({}, None).axes[0].texts, "an empty chart says why"


def test_page_handlers_turn_bad_ids_into_messages_and_read_nothing_outside(demo: Demo) -> None:
    pytest.importorskip("gradio")
    from verifily_cli.dashboard.app import Handlers

    store, ids, base = demo
    h = Handlers(store, env_for)
    for bad in ("../outside", str(base / "outside"), "run_20990101_evil"):
        shown = [h.detail(bad)[0], h.verify(bad), h.hard(bad, None)[2], h.compare([ids[0], bad], "f1")[0]]
        assert all(s.startswith("**Error:** No run") for s in shown), shown
        assert not any("SECRET" in s for s in shown)
    assert h.detail(ids[-1])[0].startswith(f"### {ids[-1]} (unknown)"), "a corrupt run still gets a page"
    assert "no hashes.json" in h.verify(ids[-1])
