"""What ``verifily predict`` and ``verifily export`` do once their flags are parsed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Union

from verifily_cli.render import err, out, progress, relative

if TYPE_CHECKING:
    from verifily_core.services.prediction.loading import Row


def run_predict(
    *, run: Path, input_file: Path, output: Optional[Path], batch_size: Optional[int], device: Optional[str]
) -> None:
    from verifily_core.bootstrap import ports_for_run
    from verifily_core.services.prediction.loading import load_run, read_rows

    rows, lines = read_rows(input_file)
    store, run_id, backend = ports_for_run(run)
    loaded = load_run(store, run_id, backend, device=device)
    done = 0
    try:
        with progress(f"Predicting with {run_id}", enabled=output is not None) as bar:

            def step(n: int) -> None:
                nonlocal done
                done += n
                bar.step(done, len(rows))

            answers = loaded.predict(
                rows, batch_size=batch_size, progress=step, source=str(input_file), lines=lines
            )
    finally:
        loaded.close()
    text = "".join(
        json.dumps(_answered(row, answer), ensure_ascii=False) + "\n" for row, answer in zip(rows, answers)
    )
    if output is None:
        out.print(text, end="", markup=False, highlight=False, soft_wrap=True)
        return
    from verifily_adapters.atomic import atomic_write_text

    atomic_write_text(output.expanduser(), text)
    err.print(f"Wrote {len(rows)} predictions to {relative(str(output))}")


def _answered(row: Row, answer: Union[str, Mapping[str, Any]]) -> Dict[str, Any]:
    """The input row with ``prediction`` (and ``probabilities`` for classification) added."""
    base = dict(row) if isinstance(row, Mapping) else {"input": row}
    if isinstance(answer, Mapping):
        return {**base, "prediction": answer["label"], "probabilities": answer["probabilities"]}
    return {**base, "prediction": answer}


def run_export(*, run: Path, merged: Path) -> None:
    from verifily_core.bootstrap import ports_for_run
    from verifily_core.services.prediction.loading import export_merged

    store, run_id, backend = ports_for_run(run)
    folder = export_merged(store, run_id, backend, merged.expanduser().resolve())
    out.print(
        f"Wrote the merged model of {run_id} to {relative(str(folder))} (AutoModel*.from_pretrained loads it)"
    )
