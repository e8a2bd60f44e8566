"""Train TinyLM (see tinylm.py) on CPython's stdlib with a passkey-retrieval mix; seeded, ~8 min on CPU.

    python -m labkit.kvcache.train_tinylm --out datasets/tinylm            # the shipped weights
    python -m labkit.kvcache.train_tinylm --out /tmp/tlm_x --steps 50      # a quick check

Recipe: AdamW (Loshchilov & Hutter 2019), three phases of 1-2k bytes per step:
  A. 32-byte sequences, 60% repeated random spans + 40% code (450 steps): copying from context
     needs an induction head (Olsson et al. 2022), and a tiny model crosses the induction "plateau"
     within a CPU budget only on short, copy-dense sequences (at 1024 bytes it had not after 450
     steps of 4 sequences, and passkey accuracy stayed 0);
  B. 128-byte sequences with short passkeys (200 steps);
  C. SEQ=1024-byte sequences, the evaluation length (a RoPE model degrades past its training
     length, Press et al. 2022, arXiv 2108.12409, Fig. 1; measured here, a first model trained at 256
     and evaluated at 1024 made every eviction policy look like an improvement), 35% passkeys, 10%
     repeats, 55% code, cosine learning-rate decay.
Loss = mean NLL of the code bytes + answer_weight x mean NLL of the key digits. One thread by
default: more threads than free cores oversubscribe OpenMP (PyTorch docs, "CPU threading and
TorchScript inference"); measured on a shared 2-core machine, a step took ~1 s on one thread while
two threads made no progress for minutes.
Writes model.safetensors, config.json and PROVENANCE.md, each atomically (temp file + rename).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shlex
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from labkit.kvcache import tinylm as T
from labkit.validate import check_bool, check_float, check_int, fail

# (name, sequence length, sequences per step, repeat fraction, passkey fraction); steps set by train()
PHASES = (("A", 32, 32, 0.6, 0.0), ("B", 128, 8, 0.3, 0.3), ("C", T.SEQ, None, 0.1, None))


def lr_at(step: int, start_c: int, total: int, lr: float, warmup: int = 30) -> float:
    """Linear warm-up to `lr`, constant through phases A and B, then in phase C cosine from lr/2 to lr/20."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if step < start_c:
        return lr
    t = (step - start_c) / max(total - start_c - 1, 1)
    return lr * (0.05 + 0.45 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def batch(rng: np.random.Generator, size: int, length: int, passkey_fraction: float,
          repeat_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    seqs, masks = zip(*(T.training_sequence(rng, length, passkey_fraction, repeat_fraction)
                        for _ in range(size)), strict=True)
    return torch.from_numpy(np.stack(seqs).astype(np.int64)), torch.from_numpy(np.stack(masks))


@torch.inference_mode()
def val_perplexity(model, n_windows: int = 16, prefill: int = 768, score: int = 256, seed: int = 0) -> float:
    """Byte perplexity of the `score` bytes after a `prefill`-byte context, on held-out windows.
    A full forward: equal to decoding with a full KV cache (evaluate.perplexity, FullPrecisionStore)."""
    x = T.heldout_windows(n_windows, prefill + score, seed=seed)
    logits = model(x[:, :-1]).logits[:, prefill - 1:]
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, prefill:].reshape(-1))
    return float(torch.exp(nll))


@torch.inference_mode()
def passkey_accuracy_full(model, n: int = 50, seed: int = 0) -> float:
    """Greedy decoding of the key after the question, no cache eviction (full forward per digit)."""
    right = 0
    for ex in T.passkey_examples(n, seed=seed):
        ids = ex.ids("prompt")
        for _ in range(T.KEY_DIGITS):
            nxt = model(ids).logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
        right += bytes(ids[0, -T.KEY_DIGITS:].tolist()) == ex.answer
    return right / n


def train(out: str | os.PathLike, steps: int = 900, curriculum: tuple[int, int] = (450, 200),
          seconds: float | None = None, seed: int = 0, batch_size: int = 2, lr: float = 2e-3,
          passkey_fraction: float = 0.35, answer_weight: float = 1.0, threads: int = 1, progress: bool = True,
          eval_windows: int = 16, eval_passkeys: int = 50) -> dict:
    """Train (phases A and B: `curriculum` steps; phase C: `steps` steps of `batch_size` x 1024 bytes),
    evaluate with the full cache, and write the model to `out`; returns the provenance numbers."""
    steps, batch_size = check_int("steps", steps, low=1), check_int("batch_size", batch_size, low=1)
    threads, seed = check_int("threads", threads, low=1), check_int("seed", seed, low=0)
    if not isinstance(curriculum, (tuple, list)) or len(curriculum) != 2:
        raise fail("curriculum", "two step counts >= 0 (phases A, B)", curriculum)
    curriculum = tuple(check_int(f"curriculum[{i}]", c, low=0) for i, c in enumerate(curriculum))
    passkey_fraction = check_float("passkey_fraction", passkey_fraction, 0.0, 0.9)
    lr = check_float("lr", lr, 0.0, low_open=True)
    answer_weight = check_float("answer_weight", answer_weight, 0.0)
    if seconds is not None:
        seconds = check_float("seconds", seconds, 0.0, low_open=True)
    progress = check_bool("progress", progress)
    eval_windows = check_int("eval_windows", eval_windows, low=1)
    eval_passkeys = check_int("eval_passkeys", eval_passkeys, low=1)
    from tqdm.auto import tqdm
    from transformers import LlamaForCausalLM
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = LlamaForCausalLM(T.tinylm_config("sdpa")).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    plan = [(PHASES[0], curriculum[0]), (PHASES[1], curriculum[1]),
            ((*PHASES[2][:2], batch_size, PHASES[2][3], passkey_fraction), steps)]
    total, start_c = sum(n for _, n in plan), sum(curriculum)
    t0, done, losses, key_losses, stopped = time.time(), 0, [], [], False
    bar = tqdm(total=total, desc="train tinylm", disable=not progress, mininterval=5)
    for (name, length, size, rep, pk), n in plan:
        for _ in range(n):
            if seconds is not None and time.time() - t0 > seconds:
                stopped = True
                break
            for g in opt.param_groups:
                g["lr"] = lr_at(done, start_c, total, lr)
            x, mask = batch(rng, size, length, pk, rep)
            logits = model(x[:, :-1]).logits
            nll = F.cross_entropy(logits.reshape(-1, 256), x[:, 1:].reshape(-1), reduction="none")
            # the key digits are ~0.2% of the bytes: weigh their mean like the code bytes' mean
            m = mask[:, 1:].reshape(-1)
            loss = nll[~m].mean() + (answer_weight * nll[m].mean() if m.any() else 0.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            if m.any():
                key_losses.append(nll[m].mean().item())
            done += 1
            bar.update(1)
            bar.set_postfix(phase=name, loss=f"{np.mean(losses[-20:]):.3f}",
                            key=f"{np.mean(key_losses[-20:] or [0]):.3f}", refresh=False)
    bar.close()
    train_s = time.time() - t0
    model.eval()
    ppl = val_perplexity(model, n_windows=eval_windows)
    acc = passkey_accuracy_full(model, n=eval_passkeys)
    info = dict(steps_done=done, steps_total=total, stopped=stopped, train_seconds=train_s, val_ppl=ppl,
                passkey_acc=acc, final_loss=float(np.mean(losses[-20:])) if losses else float("nan"),
                wall_seconds=time.time() - t0)
    T.save_tinylm(model, out)
    _write_provenance(Path(out), info, dict(seed=seed, steps=steps, curriculum=curriculum, batch_size=batch_size,
                                            lr=lr, passkey_fraction=passkey_fraction, answer_weight=answer_weight,
                                            threads=threads, seconds=seconds, eval_windows=eval_windows,
                                            eval_passkeys=eval_passkeys))
    return info


def _write_provenance(out: Path, info: dict, hp: dict) -> None:
    import transformers
    c = T.stdlib_corpus().summary()
    a, b = hp["curriculum"]
    cmd = (f"python -m labkit.kvcache.train_tinylm --out {shlex.quote(str(out))} --steps {hp['steps']} "
           f"--curriculum {a},{b} --seed {hp['seed']} --batch-size {hp['batch_size']} --lr {hp['lr']} "
           f"--passkey-fraction {hp['passkey_fraction']} --answer-weight {hp['answer_weight']} "
           f"--threads {hp['threads']}")
    if hp["seconds"] is not None:
        cmd += f" --seconds {hp['seconds']}"
    stopped = "" if not info["stopped"] else (
        f" (stopped by --seconds after {info['steps_done']} of {info['steps_total']} planned steps: the learning "
        "rate schedule was planned for all of them, so a step count alone does not reproduce this run)")
    pa, pb, pc = PHASES
    lines = [
        "# TinyLM provenance", "",
        "Trained by labkit (`labkit/kvcache/train_tinylm.py`); weights MIT (labkit), corpus PSF-2.0 (CPython).", "",
        f"- command: `{cmd}`",
        f"- seed: {hp['seed']}; steps: {info['steps_done']}{stopped}",
        f"- phase A: {a} steps of {pa[2]} x {pa[1]} bytes, {pa[3]:.0%} repeated random spans, rest code",
        f"- phase B: {b} steps of {pb[2]} x {pb[1]} bytes, {pb[3]:.0%} repeats, {pb[4]:.0%} short passkeys, rest code",
        f"- phase C: {hp['steps']} steps of {hp['batch_size']} x {T.SEQ} bytes, {pc[3]:.0%} repeats, "
        f"{hp['passkey_fraction']:.0%} passkeys, rest code",
        f"- AdamW lr {hp['lr']} (30 warm-up steps; constant in A, B; cosine lr/2 -> lr/20 in C), betas (0.9, 0.95), "
        "no weight decay, grad clip 1.0",
        f"- loss = mean code-byte NLL + {hp['answer_weight']} x mean key-digit NLL; "
        f"final (mean of last 20 steps): {info['final_loss']:.4f}",
        f"- wall time: training {info['train_seconds']:.0f} s, with evaluation {info['wall_seconds']:.0f} s, on "
        f"{hp['threads']} thread(s), {platform.machine()}, {os.cpu_count()} logical CPUs (shared: timings vary)",
        f"- torch {torch.__version__}, transformers {transformers.__version__}, Python {c['python_version']}",
        f"- corpus: CPython {c['python_version']} `Lib/*.py`, {c['n_files']} files, {c['n_bytes']} bytes, "
        f"sha256 `{c['sha256']}`; the last 5% ({c['val_bytes']} bytes) held out",
        f"- config: `{json.dumps(dict(T.TINYLM_CONFIG), sort_keys=True)}`",
        f"- {T.WEIGHTS}: {(out / T.WEIGHTS).stat().st_size} bytes, sha256 "
        f"`{hashlib.sha256((out / T.WEIGHTS).read_bytes()).hexdigest()}`", "",
        "## Evaluation (full cache)", "",
        f"- validation byte perplexity ({hp['eval_windows']} held-out windows, seed 0: 768-byte prefill, next 256 "
        f"bytes scored): **{info['val_ppl']:.3f}**",
        f"- passkey accuracy ({hp['eval_passkeys']} held-out examples, seed 0, 704-byte context, key 16-64 bytes in, "
        f"greedy 5 digits): **{info['passkey_acc']:.2f}**", "",
        "Same Python version (same corpus sha256), same torch build, seed and steps, one thread: the same weights.",
        "A different Python version changes the corpus and hence the weights.", "",
    ]
    T.write_text_atomic(out / "PROVENANCE.md", "\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m labkit.kvcache.train_tinylm", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder (datasets/tinylm for the shipped weights)")
    ap.add_argument("--steps", type=int, default=900, help="phase C steps (1024-byte sequences)")
    ap.add_argument("--curriculum", default="450,200", help="phase A,B steps (32- and 128-byte sequences)")
    ap.add_argument("--seconds", type=float, default=None, help="stop early after this much training time")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=2, help="phase C sequences per step")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--passkey-fraction", type=float, default=0.35)
    ap.add_argument("--answer-weight", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    try:
        curriculum = tuple(int(v) for v in a.curriculum.split(","))
    except ValueError:
        ap.error(f"--curriculum: expected two integers A,B, got {a.curriculum!r}")
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    info = train(a.out, steps=a.steps, curriculum=curriculum, seconds=a.seconds, seed=a.seed,
                 batch_size=a.batch_size, lr=a.lr, passkey_fraction=a.passkey_fraction,
                 answer_weight=a.answer_weight, threads=a.threads)
    print(f"{a.out}: {info['steps_done']} steps in {info['train_seconds']:.0f} s, val byte ppl "
          f"{info['val_ppl']:.3f}, passkey accuracy (full cache) {info['passkey_acc']:.2f}")


if __name__ == "__main__":
    main()
