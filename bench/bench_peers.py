"""Training throughput side by side: verifily vs a hand-written Trainer+PEFT script vs TRL's SFTTrainer.

Workloads (issue 16): (a) the tiny llama, (b) a 29M-parameter llama built from a config (hidden 512,
8 layers), both on length-skewed SFT rows (80% of 20-60 tokens, 20% of 300-500; the letter-reversal
task), LoRA r 16 on all linear layers, batch 8 x accumulation 4, one epoch, one learning rate; round
k trains every tool with seed 42 + k. Tools: verifily with packing and with length-grouped batches
(the device default is marked), the hand-written baseline of bench_train.py, and TRL (``pip install
'verifily-train[bench]'``) with padding, ``padding_free`` and ``packing=True``.

One numerator for every tool: the non-pad tokens of the train file (as verifily encodes it) x epochs,
divided by the wall time of ``trainer.train()`` alone. Each run is a fresh process (so its peak RSS is
its own); rounds are interleaved (the order rotates every round) and medians are printed with the
held-out loss beside them (each adapter scored on the same unseen rows: the quality figure that
compares across batchings, with its range over the rounds' seeds) and the training loss each tool
logs; MFU = 6 x parameters x tokens/s / measured GEMM peak.

    python bench/bench_peers.py                          # the issue's workloads: hours on 2 CPU cores
    python bench/bench_peers.py --model 30m --rows 200 --rounds 1
    python bench/bench_peers.py --device cuda --model 0.5b   # scripts/gpu_bench.sh
    python bench/bench_peers.py --model 30m --rows 300 --batch 32 --accumulation 1 \
        --tools verifily-grouped,verifily-packed               # packed attention's cost at scale
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Dict, List

from bench_train import Workload, hand_written, ours

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

# name: (build_tiny_causal_lm sizes, default rows)
MODELS: Dict[str, tuple[Dict[str, int], int]] = {
    "tiny": ({}, 256),
    "30m": ({"hidden_size": 512, "intermediate_size": 1536, "num_layers": 8, "num_heads": 8}, 1000),
    "0.5b": ({"hidden_size": 1024, "intermediate_size": 4096, "num_layers": 28, "num_heads": 16}, 4000),
}
TOOLS = (
    "verifily-packed",
    "verifily-grouped",
    "hand-written",
    "trl-padding",
    "trl-padding_free",
    "trl-packing",
)
CUDA_TOOLS = ("verifily-packed-liger",)  # training.liger: CUDA only, so never a default
# one cheap-win switch each, measured against its plain run (off by default, so not in TOOLS)
VARIANTS = ("verifily-grouped-checkpointing", "verifily-packed-checkpointing")
WORKLOAD = Workload(epochs=1, batch=8, accumulation=4, lr=1e-3, max_len=512, seed=42, r=16, alpha=32)
SHORT, LONG, LONG_SHARE = (20, 60), (300, 500), 0.2


def skewed_rows(n: int, seed: int, model_dir: Path) -> List[Dict[str, str]]:
    """Letter-reversal rows whose encoded length (prompt + answer) is drawn from the skewed mix."""
    from transformers import AutoTokenizer

    from verifily_adapters.hf_backend.loading import CAUSAL_LM
    from verifily_adapters.hf_backend.tensors import Encoder
    from verifily_core.domain.examples import SFTExample

    encoder = Encoder(AutoTokenizer.from_pretrained(model_dir), CAUSAL_LM, 10**6)

    def row(letters: int, rng: random.Random) -> Dict[str, str]:
        seq = [rng.choice("abcdefgh") for _ in range(letters)]
        return {"instruction": "Reverse the letters.", "input": " ".join(seq), "output": " ".join(seq[::-1])}

    def length(r: Dict[str, str]) -> int:
        return len(encoder.encode(SFTExample(**r))[0]["input_ids"])

    rng = random.Random(seed)
    base, slope = length(row(1, rng)), (length(row(101, rng)) - length(row(1, rng))) / 100
    rows = []
    for _ in range(n):
        low, high = LONG if rng.random() < LONG_SHARE else SHORT
        target = rng.randint(low, high)
        rows.append(row(max(1, 1 + round((target - base) / slope)), rng))
    return rows


def trl(model_dir: Path, data: Path, out: Path, w: Workload, mode: str) -> Dict[str, Any]:
    """TRL's SFTTrainer on prompt/completion rows (completion-only loss), one of its three batchings."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    from verifily_core.domain.prompts import build_prompt

    set_seed(w.seed)
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    dataset = Dataset.from_list(
        [
            {"prompt": build_prompt(r["instruction"], r.get("input", "")), "completion": r["output"]}
            for r in rows
        ]
    )
    flash = w.device == "cuda" and mode != "padding" and importlib.util.find_spec("flash_attn") is not None
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, **({"attn_implementation": "flash_attention_2"} if flash else {})
    )
    args = SFTConfig(
        output_dir=str(out),
        num_train_epochs=w.epochs,
        per_device_train_batch_size=w.batch,
        gradient_accumulation_steps=w.accumulation,
        learning_rate=w.lr,
        lr_scheduler_type="constant",
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        use_cpu=w.device == "cpu",
        bf16=w.bf16,
        seed=w.seed,
        disable_tqdm=True,
        # every row already fits max_len; TRL refuses padding_free with a max_length it cannot enforce
        max_length=None if mode == "padding_free" else w.max_len,
        padding_free=mode == "padding_free",
        packing=mode == "packing",
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(model_dir),
        peft_config=LoraConfig(
            r=w.r, lora_alpha=w.alpha, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
        ),
    )
    start, cpu = time.perf_counter(), time.process_time()
    result = trainer.train()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    trainer.model.save_pretrained(out / "adapter")
    return {
        "wall": wall,
        "cpu": cpu,
        "loss": result.training_loss,
        "steps": result.global_step,
        "adapter": str(out / "adapter"),
    }


def heldout_loss(model_dir: Path, adapter: Path, heldout: Path, w: Workload) -> float:
    """Mean loss per supervised token of held-out rows under a trained adapter.

    The one quality figure every tool shares: the product's own teacher-forced reference loss
    (``HFPredictor.reference_loss``: verifily's encoding, prompt masked, EOS supervised, padded, never
    packed), whatever the tool trained with; the training loss each tool logs is not comparable (step
    means weight a step of short rows like a step of long ones, and packing changes which tokens
    share a step).
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from verifily_adapters.hf_backend.loading import CAUSAL_LM
    from verifily_adapters.hf_backend.predictor import HFPredictor
    from verifily_core.domain.examples import SFTExample

    device = torch.device(w.device)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), str(adapter))
    predictor = HFPredictor(
        model.to(device).eval(), AutoTokenizer.from_pretrained(model_dir), CAUSAL_LM, [], w.max_len, device
    )
    rows = [SFTExample(**json.loads(line)) for line in heldout.read_text().splitlines()]
    losses = predictor.reference_loss(rows, batch_size=w.batch)
    return sum(x.nll_sum for x in losses) / sum(x.num_tokens for x in losses)


def run_tool(tool: str, model_dir: Path, data: Path, out: Path, w: Workload) -> Dict[str, Any]:
    """One training run of ``tool`` (in this process): wall of the training loop, loss, steps."""
    if tool.startswith("verifily-"):
        return ours(
            model_dir,
            data,
            out,
            w,
            packing=tool.startswith("verifily-packed"),
            liger=tool.endswith("-liger"),
            gradient_checkpointing=tool.endswith("-checkpointing"),
        )
    if tool == "hand-written":
        return hand_written(model_dir, data, out, w)
    return trl(model_dir, data, out, w, tool.split("-", 1)[1])


def _child(args: argparse.Namespace) -> None:
    w = Workload(**json.loads(args.workload))
    model_dir = Path(args.model_dir)
    result = run_tool(args.one, model_dir, Path(args.data), Path(args.out), w)
    shown = {k: result[k] for k in ("wall", "cpu", "loss", "steps")}
    # the peak of training alone: taken before the held-out pass loads a second copy of the model
    shown["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    shown["eval_loss"] = heldout_loss(model_dir, Path(result["adapter"]), Path(args.heldout), w)
    print("RESULT " + json.dumps(shown), flush=True)


def _spawn(tool: str, model_dir: Path, data: Path, heldout: Path, out: Path, w: Workload) -> Dict[str, Any]:
    """Run one tool in a fresh process: its result, with the peak RSS (MiB) of that process."""
    cmd = [
        sys.executable, __file__, "--one", tool, "--model-dir", str(model_dir), "--data", str(data),
        "--heldout", str(heldout), "--out", str(out), "--workload", json.dumps(asdict(w)),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    result: Dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def _numerator_and_size(model_dir: Path, data: Path, w: Workload) -> tuple[int, int]:
    """Non-pad tokens of the train file x epochs (verifily's encoding), and the LoRA model's size."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from verifily_adapters.hf_backend.loading import CAUSAL_LM, parameter_counts
    from verifily_adapters.hf_backend.tensors import Encoder
    from verifily_core.domain.examples import SFTExample

    encoder = Encoder(AutoTokenizer.from_pretrained(model_dir), CAUSAL_LM, w.max_len)
    rows = [SFTExample(**json.loads(line)) for line in data.read_text().splitlines()]
    tokens = sum(len(f["input_ids"]) for f in encoder.encode_all(rows).features)
    lora = LoraConfig(r=w.r, lora_alpha=w.alpha, target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), lora)
    return round(tokens * w.epochs), parameter_counts(model)[1]


def _summarise(results: List[Dict[str, Any]], tokens: int, params: int, peak: float) -> Dict[str, Any]:
    """Medians over a tool's rounds (rounds differ in seed), with the range of its held-out loss."""
    ok = [x for x in results if "error" not in x]
    if not ok:
        return {"error": results[0]["error"]}
    wall = statistics.median(x["wall"] for x in ok)
    evals = [x["eval_loss"] for x in ok]
    return {
        "tokens_per_s": tokens / wall,
        "wall": wall,
        "cpu": statistics.median(x["cpu"] for x in ok),
        "loss": statistics.median(x["loss"] for x in ok),
        "eval_loss": statistics.median(evals),
        "eval_range": (min(evals), max(evals)),
        "evals": evals if len(ok) == len(results) else [],  # per round, for paired differences
        "steps": ok[0]["steps"],
        "rss_mib": max(x["rss_mib"] for x in ok),
        "mfu": 6 * params * tokens / wall / peak,
    }


def _print_table(table: Dict[str, Dict[str, Any]], default: str) -> None:
    base = table.get("hand-written", {}).get("tokens_per_s")
    trl_best = max(
        (v["tokens_per_s"] for k, v in table.items() if k.startswith("trl") and "error" not in v),
        default=None,
    )
    name = max(18, *(len(tool) for tool in table))
    heads = ("tokens/s", "loop s", "CPU s", "loss", "held-out", "range", "steps", "RSS MiB", "MFU")
    widths = (9, 8, 8, 7, 8, 13, 5, 8, 6)
    print(
        f"{'tool':{name}s} "
        + " ".join(f"{h:>{n}s}" for h, n in zip(heads, widths))
        + f" {'x hand':>7s} {'x TRL best':>10s}"
    )
    for tool, v in table.items():
        if "error" in v:
            print(f"{tool:{name}s} failed: {v['error']}")
            continue
        ratio = f"{v['tokens_per_s'] / base:7.2f}" if base else f"{'-':>7s}"
        ratio_trl = f"{v['tokens_per_s'] / trl_best:10.2f}" if trl_best else f"{'-':>10s}"
        low, high = v["eval_range"]
        print(
            f"{tool:{name}s} {v['tokens_per_s']:9.1f} {v['wall']:8.1f} {v['cpu']:8.1f} {v['loss']:7.3f} "
            f"{v['eval_loss']:8.3f} {f'{low:.3f}-{high:.3f}':>13s} {v['steps']:5d} {v['rss_mib']:8.0f} "
            f"{v['mfu']:6.3f} {ratio} {ratio_trl}" + (" *" if tool == default else "")
        )
    print(
        "(* = verifily's default on this device; loss = mean training loss the tool logs; held-out =\n"
        " median loss per supervised token of held-out rows, the same rows and encoding for every tool,\n"
        " range = its lowest-highest over the rounds' seeds; CPU s = process CPU time of the loop, all\n"
        " threads: the work done, less sensitive than wall time to a busy machine)"
    )
    ours, hand = table.get(default, {}), table.get("hand-written", {})
    if "eval_loss" in ours and "eval_loss" in hand:
        gap = ours["eval_loss"] - hand["eval_loss"]
        spread = max(r[1] - r[0] for r in (ours["eval_range"], hand["eval_range"]))
        rounds = min(len(ours["evals"]), len(hand["evals"]))
        verdict = "within" if abs(gap) <= spread else "OUTSIDE"
        verdict = f"{verdict} the spread" if rounds > 1 else "one seed: no spread (use --rounds 3)"
        print(
            f"held-out loss, {default} - hand-written: {gap:+.4f}; run-to-run spread (widest seed "
            f"range of the two): {spread:.4f} -> {verdict}"
        )
        if ours["evals"] and len(ours["evals"]) == len(hand["evals"]):
            paired = ", ".join(f"{a - b:+.4f}" for a, b in zip(ours["evals"], hand["evals"]))
            print(f"  the same difference seed by seed (round 1, 2, ...): {paired}")


def bench_model(name: str, rows: int, rounds: int, tools: List[str], w: Workload, root: Path) -> None:
    import torch

    from verifily_adapters.hf_backend.batching import auto_packs
    from verifily_adapters.hf_backend.devices import attention_implementation, gemm_peak_flops
    from verifily_adapters.hf_backend.loading import CAUSAL_LM
    from verifily_adapters.hf_backend.tiny import build_tiny_causal_lm

    sizes, _ = MODELS[name]
    model_dir = build_tiny_causal_lm(root / name, **sizes)
    data, heldout = root / f"{name}.jsonl", root / f"{name}-heldout.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in skewed_rows(rows, w.seed, model_dir)))
    held = skewed_rows(max(64, rows // 5), w.seed + 10_000, model_dir)  # same mix, rows never trained on
    heldout.write_text("".join(json.dumps(r) + "\n" for r in held))
    tokens, params = _numerator_and_size(model_dir, data, w)
    peak = gemm_peak_flops(w.device)
    varlen = attention_implementation(torch.device(w.device), CAUSAL_LM) == "flash_attention_2"
    # the trainer decides on the longest rows of the data; batch x max_len bounds them
    default = "verifily-packed" if auto_packs(varlen, w.batch * w.max_len) else "verifily-grouped"
    print(
        f"\n== {name}: {params / 1e6:.1f}M parameters, {rows} rows ({len(held)} held out), {tokens} non-pad "
        f"tokens x {w.epochs:g} epoch(s), batch {w.batch} x {w.accumulation}, {rounds} round(s) "
        f"(seed {w.seed} + round), device {w.device}; "
        f"verifily's default here: {default}",
        flush=True,
    )
    runs: Dict[str, List[Dict[str, Any]]] = {t: [] for t in tools}
    for r in range(rounds):
        seeded = replace(w, seed=w.seed + r)  # every tool of a round shares its seed; the data never changes
        for tool in tools[r % len(tools) :] + tools[: r % len(tools)]:  # interleaved, rotating order
            result = _spawn(tool, model_dir, data, heldout, root / f"{name}-{tool}-{r}", seeded)
            runs[tool].append(result)
            shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}
            print(f"   round {r + 1} {tool:18s} {shown}", flush=True)
    _print_table({tool: _summarise(results, tokens, params, peak) for tool, results in runs.items()}, default)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=[*MODELS, "both"], default="both", help="both = tiny and 30m")
    parser.add_argument("--rows", type=int, help="rows of training data (default: per model, the issue's)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help=f"comma-separated, from {','.join(TOOLS)}; also {','.join(CUDA_TOOLS + VARIANTS)}",
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch", type=int, default=WORKLOAD.batch, help="rows per micro-batch")
    parser.add_argument("--accumulation", type=int, default=WORKLOAD.accumulation)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    for hidden in ("--model-dir", "--data", "--heldout", "--out", "--workload"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _child(args)
        return
    tools = [t for t in args.tools.split(",") if t]
    unknown = sorted(set(tools) - set(TOOLS) - set(CUDA_TOOLS) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown tool(s) {unknown}; known: {', '.join(TOOLS + CUDA_TOOLS + VARIANTS)}")
    w = replace(
        WORKLOAD,
        device=args.device,
        bf16=args.device == "cuda",
        batch=args.batch,
        accumulation=args.accumulation,
    )
    models = ["tiny", "30m"] if args.model == "both" else [args.model]
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            bench_model(name, args.rows or MODELS[name][1], args.rounds, tools, w, Path(tmp))


if __name__ == "__main__":
    main()
