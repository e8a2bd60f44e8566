"""TinyLM: a 1.6M-parameter byte-level Llama trained on CPython's stdlib, the KV-cache lab's real model.

No PyPI package ships a tiny decoder LM's weights, so labkit trains one (`train_tinylm.py`, ~8 min on
one CPU thread) and ships it in `datasets/tinylm/` (safetensors, 6.5 MB fp32). Full cache: held-out
byte perplexity 3.87 (768-byte prefill, 256 scored), passkey accuracy 0.94; a sinks + recent-window
cache of up to 640 of the 745 prompt tokens retrieves no key (0.00).

- Architecture: Llama (Touvron et al. 2023, arXiv 2302.13971) with grouped-query attention
  (Ainslie et al. 2023, arXiv 2305.13245): 6 query heads share 2 key/value heads, head_dim 32,
  RoPE (Su et al. 2021, arXiv 2104.09864). Bytes are tokens (vocab 256), so perplexity is per byte.
- Corpus: `sorted(glob(stdlib/*.py))` concatenated, CRLF normalised; the last 5% of bytes held out.
  It depends on the Python version, which the provenance records with the corpus sha256.
- Passkey retrieval (Mohtashami & Jaggi 2023, "Landmark Attention", arXiv 2305.16300): a
  random 5-digit key stated early in ~700 bytes of code filler, asked for at the end. Mixed into
  training so that long context matters: StreamingLLM-style eviction (Xiao et al. 2023, arXiv
  2309.17453: attention sinks + recent window) drops the key and fails, the full cache succeeds.
  Copying the key needs an induction head (Olsson et al. 2022); training first on short sequences
  of repeated random spans (`repeated_random`) lets the tiny model form one within the budget.

    >>> model = load_tinylm()                     # eval-mode LlamaForCausalLM
    >>> ex = passkey_examples(4, seed=0)[0]       # PasskeyExample(context, question, answer, ...)
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from labkit.atomic import atomic_write
from labkit.validate import check_choice, check_float, check_int, check_seed, fail, type_fail

# The model's hyper-parameters (transformers.LlamaConfig keyword arguments); ~1.62M parameters.
TINYLM_CONFIG = MappingProxyType(dict(
    vocab_size=256, hidden_size=192, intermediate_size=512, num_hidden_layers=4,
    num_attention_heads=6, num_key_value_heads=2, head_dim=32, max_position_embeddings=1024,
    rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, rms_norm_eps=1e-5, tie_word_embeddings=True,
    bos_token_id=None, eos_token_id=None, pad_token_id=None,
))
# training length = evaluation length: a RoPE model degrades past the length it was trained at (Press
# et al. 2022, "Train Short, Test Long", arXiv 2108.12409, Fig. 1), and an eviction policy that keeps
# the cache short then looks like an improvement (measured on a first model trained at 256: every
# eviction policy "improved" its perplexity at 1024)
SEQ = 1024
VAL_FRACTION = 0.05            # last 5% of the corpus bytes are held out
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "datasets" / "tinylm"
WEIGHTS, CONFIG_FILE = "model.safetensors", "config.json"
MAX_WEIGHTS_BYTES = 16 * 2**20  # a loader validates sizes: the shipped file is ~6.5 MB
MAX_CONFIG_BYTES = 1 << 20      # config.json is ~0.5 kB

# Passkey phrasing (fixed; the question repeats the statement's words so the model can copy, an
# induction-head pattern, Olsson et al. 2022 "In-context Learning and Induction Heads").
KEY_DIGITS = 5
KEY_LINE = b"\n# the pass key is %s. remember it.\n"
QUESTION_ASK = b"\n# what is the pass key?"
QUESTION_LEAD = b" the pass key is "
QUESTION = QUESTION_ASK + QUESTION_LEAD
ANSWER_END = b".\n"


def tinylm_config(attn_implementation: str = "eager"):
    """A fresh `transformers.LlamaConfig` for TinyLM ("eager" gives attention maps; "sdpa" is faster)."""
    from transformers import LlamaConfig
    check_choice("attn_implementation", attn_implementation, ("eager", "sdpa"))
    cfg = LlamaConfig(**TINYLM_CONFIG)
    cfg._attn_implementation = attn_implementation
    return cfg


# ---------------------------------------------------------------------------------------- corpus
@dataclass(frozen=True, eq=False)
class Corpus:
    """The stdlib byte corpus: train / val as uint8 arrays, plus what identifies it."""

    train: np.ndarray
    val: np.ndarray
    n_files: int
    sha256: str
    python_version: str

    def summary(self) -> dict:
        return dict(n_files=self.n_files, n_bytes=len(self.train) + len(self.val), train_bytes=len(self.train),
                    val_bytes=len(self.val), sha256=self.sha256, python_version=self.python_version)


@lru_cache(maxsize=2)
def stdlib_corpus(stdlib: str | None = None) -> Corpus:
    """CPython's `Lib/*.py` (not subpackages), sorted by file name, joined by b"\\n", CRLF -> LF."""
    root = stdlib or sysconfig.get_paths()["stdlib"]
    files = sorted(glob.glob(os.path.join(root, "*.py")), key=os.path.basename)
    if not files:
        raise fail("stdlib", "a directory with *.py files", root)
    data = b"\n".join(Path(f).read_bytes().replace(b"\r\n", b"\n") for f in files)
    arr = np.frombuffer(data, dtype=np.uint8)
    n_val = int(len(arr) * VAL_FRACTION)
    return Corpus(train=arr[:-n_val], val=arr[-n_val:], n_files=len(files),
                  sha256=hashlib.sha256(data).hexdigest(), python_version=sys.version.split()[0])


def _split(split: str) -> np.ndarray:
    check_choice("split", split, ("train", "val"))
    return getattr(stdlib_corpus(), split)


def heldout_windows(n_windows: int, length: int, seed: int = 0, split: str = "val") -> torch.Tensor:
    """(n_windows, length) int64 byte windows at seeded random offsets of the held-out text."""
    n_windows = check_int("n_windows", n_windows, low=1)
    check_seed("seed", seed)
    data = _split(split)
    length = check_int("length", length, 2, min(SEQ, len(data) - 1))
    starts = np.random.default_rng(seed).integers(0, len(data) - length, size=n_windows)
    return torch.from_numpy(np.stack([data[s:s + length] for s in starts]).astype(np.int64))


# --------------------------------------------------------------------------------------- passkey
@dataclass(frozen=True)
class PasskeyExample:
    """context (key stated at key_pos, then filler) + question; the model must continue with answer."""

    context: bytes
    question: bytes
    answer: bytes
    key_pos: int  # byte offset of the key's first digit in context

    def ids(self, part: str = "prompt") -> torch.Tensor:
        """(1, n) int64 bytes of "context", "question", "prompt" (context+question) or "answer"."""
        parts = dict(context=self.context, question=self.question, answer=self.answer,
                     prompt=self.context + self.question)
        check_choice("part", part, sorted(parts))
        return torch.tensor(list(parts[part]), dtype=torch.int64)[None]


def make_passkey(rng: np.random.Generator, context_len: int = 704, key_offset: int | None = None,
                 split: str = "val") -> PasskeyExample:
    """One passkey example: `key_offset` bytes of code, the key line, then code up to `context_len`."""
    data = _split(split)
    key = "".join(str(d) for d in rng.integers(0, 10, KEY_DIGITS)).encode()
    line = KEY_LINE % key
    if key_offset is None:
        key_offset = int(rng.integers(16, 65))
    key_offset = check_int("key_offset", key_offset, low=0)
    check_int("context_len", context_len, key_offset + len(line) + 1, SEQ - 64)
    n_fill = context_len - len(line)
    s = int(rng.integers(0, len(data) - n_fill))
    fill = data[s:s + n_fill].tobytes()
    context = fill[:key_offset] + line + fill[key_offset:]
    return PasskeyExample(context=context, question=QUESTION, answer=key,
                          key_pos=key_offset + line.index(key))


def passkey_examples(n: int = 20, seed: int = 0, context_len: int = 704, split: str = "val") -> list[PasskeyExample]:
    """n seeded evaluation examples (key 16-64 bytes in, ~700 bytes of held-out code filler)."""
    n, seed = check_int("n", n, low=1), check_seed("seed", seed)
    rng = np.random.default_rng(seed)
    return [make_passkey(rng, context_len=context_len, split=split) for _ in range(n)]


def repeated_random(rng: np.random.Generator, length: int) -> np.ndarray:
    """(length+1,) uint8: a random printable span of 8-47 bytes tiled over the sequence. Everything
    after the first period is predictable only by copying from context: the induction-head probe of
    Olsson et al. 2022 ("In-context Learning and Induction Heads"), used here as training data."""
    n = int(rng.integers(8, min(48, length // 2)))
    return np.tile(rng.integers(32, 127, n), length // n + 2)[:length + 1].astype(np.uint8)


def training_sequence(rng: np.random.Generator, length: int = SEQ, passkey_fraction: float = 0.35,
                      repeat_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(length+1,) uint8 bytes and (length+1,) bool mask of the answer digits: with prob
    `passkey_fraction` a passkey example (context up to 900 bytes, key 0-256 bytes in) then code;
    with prob `repeat_fraction` a repeated random span; otherwise plain stdlib code."""
    passkey_fraction = check_float("passkey_fraction", passkey_fraction, 0, 1)
    repeat_fraction = check_float("repeat_fraction", repeat_fraction, 0, 1)
    lo = 128 if passkey_fraction > 0 else 16
    length = check_int("length", length, lo, SEQ)
    data = stdlib_corpus().train
    u = rng.random()
    mask = np.zeros(length + 1, dtype=bool)
    if u < repeat_fraction:
        return repeated_random(rng, length), mask
    head = b""
    if u < repeat_fraction + passkey_fraction:
        ctx = int(rng.integers(45, min(900, length - 55) + 1))
        ex = make_passkey(rng, context_len=ctx, key_offset=int(rng.integers(0, min(257, ctx - 40))), split="train")
        head = ex.context + ex.question + ex.answer + ANSWER_END
        a0 = len(ex.context) + len(ex.question)
        mask[a0:a0 + KEY_DIGITS] = True
    s = int(rng.integers(0, len(data) - length - 1))
    seq = np.frombuffer(head + data[s:s + length + 1 - len(head)].tobytes(), dtype=np.uint8).copy()
    return seq, mask


# ----------------------------------------------------------------------------------- weights I/O
def _expected_shapes(cfg) -> dict[str, tuple[int, ...]]:
    from transformers import LlamaForCausalLM
    with torch.device("meta"):
        m = LlamaForCausalLM(cfg)
    return {k: tuple(v.shape) for k, v in m.state_dict().items() if k != "lm_head.weight"}


def save_tinylm(model, path: str | os.PathLike) -> None:
    """Write `model.safetensors` (fp32, tied lm_head omitted) and `config.json`, each atomically
    (`labkit.atomic.atomic_write`: a temporary of this writer's own, fsync'ed, renamed into place)."""
    from safetensors.torch import save
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to(torch.float32).contiguous().clone()
          for k, v in model.state_dict().items() if k != "lm_head.weight"}
    blob = save(sd, metadata={"format": "pt"})  # one key: a multi-key map's order varies by run
    with atomic_write(path / WEIGHTS) as f:
        f.write(blob)
    write_text_atomic(path / CONFIG_FILE, json.dumps(dict(TINYLM_CONFIG), indent=2, sort_keys=True) + "\n")


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """`text` (UTF-8) to `path` through `labkit.atomic.atomic_write`."""
    with atomic_write(path, "w") as f:
        f.write(text)


def load_tinylm(path: str | os.PathLike | None = None, attn_implementation: str = "eager"):
    """The shipped TinyLM as an eval-mode `LlamaForCausalLM` (fp32). Validates config and shapes."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from transformers import LlamaForCausalLM
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise type_fail("path", "None or a directory path (str or os.PathLike)", path)
    check_choice("attn_implementation", attn_implementation, ("eager", "sdpa"))
    path = Path(path) if path is not None else DEFAULT_DIR
    wfile, cfile = path / WEIGHTS, path / CONFIG_FILE
    for f in (wfile, cfile):
        if not f.is_file():
            raise fail("path", f"a directory holding {WEIGHTS} and {CONFIG_FILE} (retrain with "
                       f"`python -m labkit.kvcache.train_tinylm --out {path}`)", f"{f} missing", described=True)
    csize = cfile.stat().st_size
    if csize > MAX_CONFIG_BYTES:
        raise fail("path", f"{cfile} of at most {MAX_CONFIG_BYTES} bytes", f"{csize} bytes", described=True)
    try:
        got = json.loads(cfile.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise fail("path", f"valid UTF-8 JSON in {cfile}", f"a parse error ({type(e).__name__}: {e})",
                   described=True) from None
    if not isinstance(got, dict):
        raise fail("path", f"a JSON object in {cfile}", f"a JSON {type(got).__name__}", described=True)
    bad = {k: (got.get(k), v) for k, v in TINYLM_CONFIG.items() if got.get(k) != v}
    if bad:
        raise fail("path", f"{cfile} equal to TINYLM_CONFIG", f"(found, expected) {bad}", described=True)
    size = wfile.stat().st_size
    if not 0 < size <= MAX_WEIGHTS_BYTES:
        raise fail("path", f"{wfile} of 1..{MAX_WEIGHTS_BYTES} bytes", f"{size} bytes", described=True)
    try:
        sd = load_file(str(wfile))
    except (SafetensorError, OSError, RuntimeError) as e:
        raise fail("path", f"a readable safetensors file at {wfile}", f"an unreadable file ({e})",
                   described=True) from None
    cfg = tinylm_config(attn_implementation)
    want = _expected_shapes(cfg)
    have = {k: tuple(v.shape) for k, v in sd.items()}
    if have != want:
        diff = sorted(set(have.items()) ^ set(want.items()))[:6]
        raise fail("path", f"tensors in {wfile} with TinyLM's (name, shape) set",
                   f"tensors that do not match it, first differences {diff}", described=True)
    for k, v in sd.items():
        if not v.is_floating_point() or not torch.isfinite(v).all():
            raise fail("path", f"finite floating-point tensors in {wfile}", f"tensor {k}", described=True)
    model = LlamaForCausalLM(cfg)
    model.load_state_dict({k: v.to(torch.float32) for k, v in sd.items()}, strict=False)
    model.tie_weights()
    return model.eval()


@lru_cache(maxsize=2)
def shared_tinylm(attn_implementation: str = "eager"):
    """load_tinylm(), once per process: what `model=None` means in evaluate.py and capture.py.
    Shared, so treat it as read-only (eval mode, no weight changes)."""
    return load_tinylm(attn_implementation=attn_implementation)


def n_params(model) -> int:
    """Distinct parameters (the tied embedding counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
