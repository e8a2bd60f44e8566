"""The op graph of one forward step of a decoder-only transformer: flops and bytes per op.

`build_graph(model, stage, batch, seq_len)` returns every op of every layer, in execution order
(`graph_parts(...)`, same arguments, returns it before unrolling: one layer's ops stand for all L,
as plain tuples; roofline computes on that and unrolls only when asked for the graph):

    (embed)                              physics only, layer -1, first
    per layer 0..L-1:
      attn_norm  q_proj k_proj v_proj  qk_matmul softmax sv_matmul  (or fused_attention)
      out_proj attn_add  mlp_norm  (router)  (gate_proj) up_proj mlp_act down_proj  mlp_add
    (final_norm) lm_head                 layer -1, last (final_norm physics only)

Notation: b = batch, q = query tokens per sequence (1 in decode, seq_len in prefill), T = b*q,
kv = seq_len = keys attended (decode: tokens in the KV cache, the new one included), H hidden,
nh / nkv attention / key-value heads, g = nh/nkv (GQA group), hd head_dim, I intermediate, V vocab.

Op shapes (M, K, N, heads) by kind:
    linear       M = tokens (T; b for lm_head; T*k token-expert pairs for MoE experts), K = in_features,
                 N = out_features, heads = 1; flops = 2*M*K*N (llm-viewer lm_head: M*K*N, its quirk)
    attention    per KV head: M = q*g query rows sharing one K/V stream, heads = b*nkv;
                 qk_matmul / fused_attention: K = hd, N = kv;  sv_matmul: K = kv, N = hd;
                 flops = 2*M*K*N*heads (fused: both matmuls + 5 softmax ops per score)
    norm, softmax, elementwise
                 M = elements (T*H; softmax b*nh*q*kv), K = N = heads = 1; flops per element:
                 softmax 5 (max, sub, exp, sum, div); norm 7 (llm-viewer; physics: LayerNorm 7,
                 RMSNorm 4 = square, sum, scale, gamma); add 1; mlp_act 2 if gated (act, mul) else 1
Bytes: weight_bytes (weights, biases, norm gains; MoE: only the experts touched), act_load_bytes /
act_store_bytes (activations), kv_load_bytes / kv_store_bytes (the KV cache). k_proj / v_proj store
into the KV cache, not as activations. bits -> bytes = bits/8 (fractional bytes kept, as LLM-Viewer).

Modes: "llm-viewer" reproduces LLM-Viewer's model_analyzer.py (commit 472f71f) op for op, quirks
included; "physics" fixes them. The differences are listed in labkit/pim/roofline.py and
docs/pim-physics-vs-llm-viewer.md. MoE (physics): a token runs num_experts_per_tok = k experts, so
expert ops have M = T*k; weight bytes count min(E, T*k) experts, the most that T tokens can touch
(balanced routing: an upper bound; a batch-1 decode touches exactly k). LLM-Viewer has no MoE
template, so in llm-viewer mode the MLP is one dense expert (what its Llama template computes);
GPT-2 has no LLM-Viewer template either: llm-viewer mode uses its opt.py template (non-gated MLP,
multi-head), which also counts a gate_proj.
Not counted in either mode: RoPE, attention scaling and masking, MoE top-k selection and the
weighted sum of the k expert outputs, token ids. Prefill attention is dense q x kv (no causal skip).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

from labkit.pim.models import ModelConfig, load_model
from labkit.validate import check_bool, check_choice, check_float, check_instance, check_int, check_str

KINDS = ("linear", "attention", "elementwise", "norm", "softmax")
STAGES = ("prefill", "decode")
MODES = ("physics", "llm-viewer")


@dataclass(frozen=True)
class Op:
    """One kernel of the step. Shapes and units in the module docstring; bytes are bytes."""

    name: str
    layer: int  # 0..L-1; -1 outside the decoder stack (embed before layer 0; final_norm, lm_head after)
    kind: str
    M: int
    K: int
    N: int
    heads: int
    flops: float
    weight_bytes: float
    act_load_bytes: float
    act_store_bytes: float
    kv_load_bytes: float
    kv_store_bytes: float
    experts: int = 1  # distinct weight matrices read (MoE experts touched); 1 otherwise
    inputs: tuple = ()  # (layer, name) of the ops whose outputs this op reads

    def __post_init__(self):
        check_str("name", self.name)
        check_int("layer", self.layer, low=-1)
        check_choice("kind", self.kind, KINDS)
        for name in ("M", "K", "N", "heads", "experts"):
            check_int(name, getattr(self, name), low=1)
        for name in _OP_AMOUNTS:
            check_float(name, getattr(self, name), low=0)
        check_instance("inputs", self.inputs, tuple, "a tuple of (layer, name) pairs")

    @classmethod
    def _from_row(cls, row: tuple) -> Op:
        """The record of a row made by `_op` (already typed and in range): skips the constructor's
        checks, which would double the cost of unrolling a 32-layer graph (~500 ops)."""
        op = object.__new__(cls)
        op.__dict__.update(zip(_OP_FIELDS, row, strict=True))
        return op

    def _with(self, **changes) -> Op:
        """`dataclasses.replace` without the constructor's checks, for changes computed from checked ops
        (simulate's fused sibling matrices)."""
        op = object.__new__(type(self))
        op.__dict__.update(self.__dict__, **changes)
        return op

    @property
    def bytes(self) -> float:
        return self.weight_bytes + self.act_load_bytes + self.act_store_bytes + self.kv_load_bytes + self.kv_store_bytes


_OP_FIELDS = tuple(f.name for f in fields(Op))
_OP_AMOUNTS = ("flops", "weight_bytes", "act_load_bytes", "act_store_bytes", "kv_load_bytes", "kv_store_bytes")


def flash_block_rows(onchip_buffer: float | None, kv_bytes: float, head_dim: int) -> int:
    """FlashAttention-2 row-block size as LLM-Viewer picks it: min(ceil(buffer / (kv_byte * hd)), hd)."""
    if onchip_buffer is None or math.isinf(onchip_buffer):
        return head_dim
    return min(math.ceil(onchip_buffer / (kv_bytes * head_dim)), head_dim)


class GraphParts(NamedTuple):
    """The op graph before it is unrolled: one decoder layer's ops stand for all L layers (every
    layer is identical). Ops are plain tuples in Op's field order (layer 0 in `layer`; inputs name
    ops of the same layer, "x" = the layer input): cheap to build, and `Op(*row)` is the record."""

    cfg: ModelConfig
    before: list  # ops before layer 0 (embed, physics only)
    layer: list  # one decoder layer, in execution order
    after: list  # ops after the last layer (final_norm, lm_head)


def build_graph(model="llama-2-7b", stage: str = "decode", batch: int = 1, seq_len: int = 1024,
                w_bits: int = 16, a_bits: int = 16, kv_bits: int = 16, mode: str = "physics",
                use_flashattention: bool = False, onchip_buffer: float | None = None) -> list[Op]:
    """Every op of one prefill or decode step, all layers explicit, in execution order.

    model: shipped name, HF-style config dict or ModelConfig. seq_len: prompt length (prefill) or
    tokens attended (decode). onchip_buffer (bytes) only sets the FlashAttention block size."""
    return unroll(graph_parts(model, stage, batch, seq_len, w_bits, a_bits, kv_bits, mode, use_flashattention,
                              onchip_buffer))


def graph_parts(model="llama-2-7b", stage: str = "decode", batch: int = 1, seq_len: int = 1024,
                w_bits: int = 16, a_bits: int = 16, kv_bits: int = 16, mode: str = "physics",
                use_flashattention: bool = False, onchip_buffer: float | None = None) -> GraphParts:
    """build_graph's arguments, checked; the graph as GraphParts (one layer, not L)."""
    cfg = load_model(model)
    check_choice("stage", stage, STAGES)
    check_choice("mode", mode, MODES)
    b = check_int("batch", batch, low=1)
    s = check_int("seq_len", seq_len, low=1)
    bits = [check_int(n, v, low=1, high=32) for n, v in (("w_bits", w_bits), ("a_bits", a_bits), ("kv_bits", kv_bits))]
    check_bool("use_flashattention", use_flashattention)
    if onchip_buffer is not None:  # bytes; inf = unlimited
        check_float("onchip_buffer", onchip_buffer, low=0, low_open=True, finite=False)
    wB, aB, kvB = (x / 8 for x in bits)
    q = 1 if stage == "decode" else s
    physics = mode == "physics"
    layer = _layer_ops(cfg, physics, stage, b, q, s, wB, aB, kvB, use_flashattention, onchip_buffer)
    before = [_embed(cfg, b, q, wB, aB)] if physics else []
    return GraphParts(cfg, before, layer, _head(cfg, physics, b, q, wB, aB))


def unroll(parts: GraphParts) -> list[Op]:
    """The Op records of every layer, in execution order; layer i reads layer i-1's mlp_add."""
    ops = [Op._from_row(row) for row in parts.before]
    first = (-1, "embed") if parts.before else None  # llm-viewer: layer 0's input is not an op
    for i in range(parts.cfg.num_hidden_layers):
        x = (i - 1, "mlp_add") if i else first
        for row in parts.layer:
            inputs = tuple(x if n == "x" else (i, n) for n in row[-1] if n != "x" or x is not None)
            ops.append(Op._from_row((row[0], i, *row[2:-1], inputs)))
    ops.extend(Op._from_row(row) for row in parts.after)
    return ops


def _op(name, kind, M, K, N, heads, flops, w=0.0, al=0.0, st=0.0, kl=0.0, ks=0.0, experts=1, inputs=(), layer=0):
    """One op as a tuple in Op's field order (Op(*row) makes the record; unroll uses Op._from_row)."""
    return (name, layer, kind, int(M), int(K), int(N), int(heads), float(flops), float(w), float(al), float(st),
            float(kl), float(ks), experts, tuple(inputs))


def _layer_ops(cfg: ModelConfig, physics, stage, b, q, kv, wB, aB, kvB, flash, onchip) -> list[tuple]:
    """One decoder layer's ops (layer 0); inputs name ops of the same layer, "x" = the layer input."""
    H, nh, nkv = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads
    T = b * q
    if physics:
        hd, qdim, kvdim = cfg.head_dim, nh * cfg.head_dim, cfg.kv_dim
    else:  # LLM-Viewer: head_size = hidden // heads; q_proj is hidden x hidden; k/v_proj hidden x hidden*nkv/nh
        hd, qdim, kvdim = H // nh, H, H * nkv // nh
    g = nh // nkv
    bias = physics and cfg.bias

    def linear(name, K, N, M=T, kv_out=False, experts=1, inputs=("attn_norm",)):
        w = experts * (K * N + (N if bias else 0)) * wB  # weights (+ bias) of every matrix touched
        store = (0.0, M * N * kvB) if kv_out else (M * N * aB, 0.0)
        return _op(name, "linear", M, K, N, 1, 2 * M * K * N, w, M * K * aB, store[0], 0.0, store[1],
                   experts, inputs)

    def norm(name, inputs):
        per_el = 7 if (not physics or cfg.norm == "layernorm") else 4
        gains = (2 if cfg.norm == "layernorm" else 1) * H * wB if physics else 0.0
        return _op(name, "norm", T * H, 1, 1, 1, per_el * T * H, gains, T * H * aB, T * H * aB, inputs=inputs)

    def add(name, inputs):  # residual: x + f(x); LLM-Viewer loads one operand, physics both
        return _op(name, "elementwise", T * H, 1, 1, 1, T * H, 0.0, (2 if physics else 1) * T * H * aB,
                   T * H * aB, inputs=inputs)

    ops = [norm("attn_norm", ("x",)),
           linear("q_proj", H, qdim),
           linear("k_proj", H, kvdim, kv_out=True),
           linear("v_proj", H, kvdim, kv_out=True)]
    # attention, per KV head: g query heads share one K/V stream (GQA); M = q*g rows
    M, heads = q * g, b * nkv
    scores = b * nh * q * kv  # elements of QK^T
    q_bytes = q * hd * b * nh * aB
    kv_bytes = kv * hd * b * nkv * kvB  # K (or V) read from the cache, GQA-aware
    if flash:
        rows = flash_block_rows(onchip, kvB, hd)
        n_blocks = math.ceil(q / rows)  # K and V streamed once per block of query rows
        flops = 2 * 2 * M * hd * kv * heads + 5 * scores
        if physics:  # O written once (q x hd per head); K/V over the nkv KV heads
            st, kl = q * hd * b * nh * aB, n_blocks * kv_bytes * 2
        else:  # LLM-Viewer: O taken as q x kv per head and stored twice; K/V over all nh heads
            st, kl = 2 * q * kv * b * nh * aB, n_blocks * kv * hd * b * nh * kvB * 2
        ops.append(_op("fused_attention", "attention", M, hd, kv, heads, flops, 0.0, q_bytes, st, kl, 0.0,
                       inputs=("q_proj", "k_proj", "v_proj")))
        att_out = "fused_attention"
    else:
        # LLM-Viewer's prefill QK^T loads Q as q*hd*b*nkv (its quirk); physics: all nh query heads
        q_load = q_bytes if (physics or stage == "decode") else q * hd * b * nkv * aB
        ops += [_op("qk_matmul", "attention", M, hd, kv, heads, 2 * M * hd * kv * heads, 0.0, q_load,
                    scores * aB, kv_bytes, 0.0, inputs=("q_proj", "k_proj")),
                _op("softmax", "softmax", scores, 1, 1, 1, 5 * scores, 0.0, scores * aB, scores * aB,
                    inputs=("qk_matmul",)),
                _op("sv_matmul", "attention", M, kv, hd, heads, 2 * M * kv * hd * heads, 0.0, scores * aB,
                    q_bytes, kv_bytes, 0.0, inputs=("softmax", "v_proj"))]
        att_out = "sv_matmul"
    ops += [linear("out_proj", qdim, H, inputs=(att_out,)),
            add("attn_add", ("x", "out_proj")),
            norm("mlp_norm", ("attn_add",))]
    ops += _mlp(cfg, physics, linear, T, wB, aB)
    ops.append(add("mlp_add", ("attn_add", "down_proj")))
    return ops


def _mlp(cfg: ModelConfig, physics, linear, T, wB, aB) -> list[tuple]:
    H, ffn = cfg.hidden_size, cfg.intermediate_size
    ops, feed = [], ("mlp_norm",)
    M, touched = T, 1
    if physics and cfg.is_moe:
        E, k = cfg.num_local_experts, cfg.num_experts_per_tok
        ops.append(linear("router", H, E, inputs=feed))  # gate: hidden -> expert logits
        M, touched, feed = T * k, min(E, T * k), ("mlp_norm", "router")
    # LLM-Viewer's templates (Llama.py, and opt.py, which llm-viewer mode uses for non-gated MLPs
    # such as GPT-2's) all list a gate_proj in get_linear_layers: llm-viewer mode keeps it
    gate = cfg.gated_mlp or not physics
    if gate:
        ops.append(linear("gate_proj", H, ffn, M=M, experts=touched, inputs=feed))
    ops.append(linear("up_proj", H, ffn, M=M, experts=touched, inputs=feed))
    act_in = ("gate_proj", "up_proj") if gate else ("up_proj",)
    if physics:  # act(gate) * up over M*ffn elements (gated), act(up) otherwise
        n, operands = M * ffn, (2 if cfg.gated_mlp else 1)
        ops.append(_op("mlp_act", "elementwise", n, 1, 1, 1, operands * n, 0.0, operands * n * aB, n * aB,
                       inputs=act_in))
    else:  # LLM-Viewer: 2 ops, 2 loads and 1 store per *hidden* element, for every template
        n = T * H
        ops.append(_op("mlp_act", "elementwise", n, 1, 1, 1, 2 * n, 0.0, 2 * n * aB, n * aB, inputs=act_in))
    ops.append(linear("down_proj", ffn, H, M=M, experts=touched, inputs=("mlp_act",)))
    return ops


def _embed(cfg: ModelConfig, b, q, wB, aB) -> tuple:
    """Token-embedding gather (+ GPT-2's position rows): only the rows touched are read."""
    T, H = b * q, cfg.hidden_size
    rows = min(T, cfg.vocab_size) + (min(q, cfg.max_position_embeddings) if cfg.learned_positions else 0)
    flops = T * H if cfg.learned_positions else 0  # wte[ids] + wpe[pos]
    return _op("embed", "elementwise", T * H, 1, 1, 1, flops, rows * H * wB, 0.0, T * H * aB, layer=-1)


def _head(cfg: ModelConfig, physics, b, q, wB, aB) -> list[tuple]:
    """Final norm (physics) and LM head; logits for the last position of each sequence only."""
    H, V, T, L = cfg.hidden_size, cfg.vocab_size, b * q, cfg.num_hidden_layers
    last = (L - 1, "mlp_add")
    if not physics:  # LLM-Viewer post_process: OPs b*H*V*1, act load H, store V (no batch factor)
        return [_op("lm_head", "linear", b, H, V, 1, b * H * V, H * V * wB, H * aB, V * aB, inputs=(last,), layer=-1)]
    per_el = 7 if cfg.norm == "layernorm" else 4
    gains = (2 if cfg.norm == "layernorm" else 1) * H * wB
    return [_op("final_norm", "norm", T * H, 1, 1, 1, per_el * T * H, gains, T * H * aB, T * H * aB,
                inputs=(last,), layer=-1),
            _op("lm_head", "linear", b, H, V, 1, 2 * b * H * V, H * V * wB, b * H * aB, b * V * aB,
                inputs=((-1, "final_norm"),), layer=-1)]
