"""What a KV method costs on a real model: TinyLM perplexity and passkey retrieval through LabkitCache.

Protocol (the same for every KVStore; `make_store(layer_idx) -> KVStore`, None = full precision):
- perplexity: held-out stdlib windows; prefill `prefill` bytes (attention over the prompt is full
  precision, then the store compresses it, as in KIVI's llama_kivi.py, arXiv 2402.02750, and
  kvpress's pre-fill compression), then score the next `score` bytes decoding one byte at a time through the cache.
  Byte perplexity = exp(mean NLL). Long-context evaluation after compressing the context follows
  KIVI's LongBench and kvpress's RULER set-ups, scaled down.
- passkey: prefill the context (key stated 16-64 bytes in, ~700 bytes of code; Mohtashami & Jaggi
  2023, arXiv 2305.16300), decode the question byte by byte through the cache, then greedily
  decode the 5 digits; accuracy = fraction of keys exactly right. With `question_in_prefill=True`
  the whole question but its last byte is part of the prefill (kvpress's query-aware setting, where
  the question joins the context and only a short suffix is decoded: the compressor sees the
  question's queries, as SnapKV's observation window does, arXiv 2404.14469); the final " "
  is decoded through the compressed cache, then the digits.

    >>> model = load_tinylm()
    >>> perplexity(model, None, n_windows=2)                 # full cache, ~9
    >>> passkey_accuracy(model, lambda i: MyStore(), n=20)
    >>> perplexity(None, lambda i: KIVICache(2, 32, 128))    # model=None: the shipped TinyLM
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from labkit.kvcache import tinylm as T
from labkit.kvcache.hf import LabkitCache, _decoder_layers
from labkit.kvcache.store import FullPrecisionStore, KVStore
from labkit.validate import check_bool, check_int, check_seed, fail, type_fail

MAX_EXAMPLES = 4096  # windows or passkeys one call runs the model on (each ~0.1-1 s: an hour at most)

MakeStore = Callable[[int], KVStore]


def _make(make_store: MakeStore | None) -> MakeStore:
    if make_store is None:
        return lambda i: FullPrecisionStore()
    if not callable(make_store):
        raise type_fail("make_store", "None or a callable layer_idx -> KVStore", make_store)
    return make_store


def _model(model):
    """model, or the shipped TinyLM (loaded once per process) for None; a Llama-style decoder."""
    if model is None:
        return T.shared_tinylm()
    _decoder_layers(model)  # TypeError naming `model` for anything else
    return model


def new_cache(model, make_store: MakeStore | None = None) -> LabkitCache:
    """A LabkitCache for `model` (queries captured), one fresh store per decoder layer."""
    return LabkitCache(_make(make_store), model.config.num_hidden_layers, model=model)


def step(model, cache: LabkitCache, ids: torch.Tensor) -> torch.Tensor:
    """Run (1, n) ids through the model with the cache at explicit positions; (1, n, vocab) logits.
    Positions continue from the tokens SEEN, so they stay right after a store evicts."""
    p = cache.get_seq_length()
    pos = torch.arange(p, p + ids.shape[1])
    return model(ids, past_key_values=cache, use_cache=True, position_ids=pos[None], cache_position=pos).logits


def _bar(it, progress: bool, desc: str, total: int):
    if not progress:
        return it
    from tqdm.auto import tqdm
    return tqdm(it, desc=desc, total=total)


@torch.inference_mode()
def window_nll(model, make_store: MakeStore | None, ids: torch.Tensor, prefill: int) -> torch.Tensor:
    """(len - prefill,) NLL of each byte after the first `prefill` bytes of a (1, len) window."""
    cache = new_cache(model, make_store)
    logits = step(model, cache, ids[:, :prefill])[:, -1]
    nll = [F.cross_entropy(logits, ids[:, prefill])]
    for t in range(prefill, ids.shape[1] - 1):
        logits = step(model, cache, ids[:, t:t + 1])[:, -1]
        nll.append(F.cross_entropy(logits, ids[:, t + 1]))
    return torch.stack(nll)


def perplexity(model=None, make_store: MakeStore | None = None, n_windows: int = 8, prefill: int = 768,
               score: int = 256, seed: int = 0, progress: bool = False) -> float:
    """Byte perplexity of `score` bytes decoded after a `prefill`-byte context, over `n_windows`
    seeded held-out windows (prefill + score <= 1024, the training length). model: a Llama-style
    decoder (None: the shipped TinyLM); make_store: layer_idx -> KVStore (None: full precision)."""
    n_windows = check_int("n_windows", n_windows, low=1, high=MAX_EXAMPLES)
    prefill, score = check_int("prefill", prefill, low=1), check_int("score", score, low=1)
    seed, progress = check_seed("seed", seed), check_bool("progress", progress)
    if prefill + score > T.SEQ:
        raise fail("prefill", f"prefill + score <= {T.SEQ} (the training length)", prefill + score)
    model, make_store = _model(model), _make(make_store)
    windows = T.heldout_windows(n_windows, prefill + score, seed=seed)
    nll = [window_nll(model, make_store, w[None], prefill)
           for w in _bar(windows, progress, "perplexity", n_windows)]
    return float(torch.exp(torch.cat(nll).mean()))


@torch.inference_mode()
def passkey_answers(model=None, make_store: MakeStore | None = None, n: int = 20, seed: int = 0,
                    context_len: int = 704, question_in_prefill: bool = False,
                    progress: bool = False) -> list[tuple[str, str]]:
    """[(expected key, greedy answer)] for n seeded held-out passkey examples."""
    n, seed = check_int("n", n, low=1, high=MAX_EXAMPLES), check_seed("seed", seed)
    context_len = check_int("context_len", context_len, 1, T.SEQ - 64)
    question_in_prefill = check_bool("question_in_prefill", question_in_prefill)
    progress = check_bool("progress", progress)
    model, make_store = _model(model), _make(make_store)
    out = []
    for ex in _bar(T.passkey_examples(n, seed=seed, context_len=context_len), progress, "passkey", n):
        cache = new_cache(model, make_store)
        prompt = ex.context + ex.question
        head = prompt[:-1] if question_in_prefill else ex.context   # kvpress query-aware: question in context
        rest = prompt[len(head):]
        logits = step(model, cache, torch.tensor([list(head)]))[:, -1]
        for b in rest:                                      # the question, byte by byte
            logits = step(model, cache, torch.tensor([[b]]))[:, -1]
        got = []
        for _ in range(T.KEY_DIGITS):                       # greedy digits
            nxt = int(logits.argmax(-1))
            got.append(nxt)
            logits = step(model, cache, torch.tensor([[nxt]]))[:, -1]
        out.append((ex.answer.decode(), bytes(got).decode("latin-1")))
    return out


def passkey_accuracy(model=None, make_store: MakeStore | None = None, n: int = 20, seed: int = 0,
                     context_len: int = 704, question_in_prefill: bool = False, progress: bool = False) -> float:
    """Fraction of n seeded passkeys decoded exactly (see passkey_answers; model=None: the shipped TinyLM)."""
    pairs = passkey_answers(model, make_store, n=n, seed=seed, context_len=context_len,
                            question_in_prefill=question_in_prefill, progress=progress)
    return sum(a == b for a, b in pairs) / n


def bytes_per_token(cache_or_store) -> float:
    """Cache bytes per token SEEN, summed over layers for a LabkitCache (one layer for a KVStore)."""
    if isinstance(cache_or_store, LabkitCache):
        seen = cache_or_store.get_seq_length()
        return cache_or_store.nbytes() / max(seen, 1)
    if isinstance(cache_or_store, KVStore):
        return cache_or_store.bytes_per_token()
    raise type_fail("cache_or_store", "a LabkitCache or KVStore", cache_or_store)
