"""The op graph against hand formulas and HF's own modules: weight bytes = parameters, KV bytes,
flops = 2*M*K*N*heads, GQA / MoE shapes, bit widths, execution order, identical layers, bad input."""

import dataclasses

import pytest
import torch
import transformers
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.pim import Op, build_graph, list_models, load_model
from labkit.pim.opgraph import graph_parts

# HF num_parameters() of the shipped configs (embedding tables included, tied lm_head once)
HF_PARAMS = {"gpt2": 124_439_808, "gpt2-medium": 354_823_168, "gpt2-large": 774_030_080, "gpt2-xl": 1_557_611_200,
             "llama-2-7b": 6_738_415_616, "llama-2-13b": 13_015_864_320, "llama-3-8b": 8_030_261_248,
             "mixtral-8x7b": 46_702_792_704}


def total(ops, field, name=None, kind=None):
    return sum(getattr(o, field) for o in ops if (name is None or o.name == name) and (kind is None or o.kind == kind))


def hf_params(name):
    """Parameters by module name from transformers itself (meta device: no memory)."""
    cfg = dict(load_model(name).config)
    config = transformers.AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    return {k: v.numel() for k, v in model.named_parameters()}


def test_shipped_models_and_their_sources():
    assert set(list_models()) == set(HF_PARAMS)
    for name in list_models():
        m = load_model(name)
        assert m.source.startswith("https://huggingface.co/") and m.source.endswith("/config.json")
        assert m.num_parameters()["total"] == HF_PARAMS[name], name
        assert load_model(name) is m  # a shipped config is read and parsed once


@pytest.mark.parametrize("name", ["gpt2", "llama-2-7b", "llama-3-8b", "mixtral-8x7b"])
def test_decode_weight_bytes_are_the_non_embedding_parameters_to_the_byte(name):
    """physics decode reads every non-embedding parameter once (2 B in fp16), the tied GPT-2 LM head
    reads the token table, and the embedding gather reads only the rows of the tokens it looks up."""
    params = hf_params(name)
    assert sum(params.values()) == HF_PARAMS[name]
    embed = sum(v for k, v in params.items() if k.endswith(("embed_tokens.weight", "wte.weight", "wpe.weight")))
    m = load_model(name)
    H, V = m.hidden_size, m.vocab_size
    tied_head = V * H if m.tie_word_embeddings else 0
    b = 64  # 64 tokens x 2 experts touch all 8 Mixtral experts
    ops = build_graph(name, "decode", batch=b, seq_len=100, mode="physics")
    rows = b + (1 if m.learned_positions else 0)  # b token rows (+ one position row, shared by the batch)
    assert total(ops, "weight_bytes") == 2 * (sum(params.values()) - embed + tied_head) + 2 * rows * H
    assert total(ops, "weight_bytes", "embed") == 2 * rows * H


def test_llama_2_7b_hand_count():
    # 32 x (4*4096^2 + 3*4096*11008) linear + 32000*4096 lm_head + (2*32 + 1)*4096 RMSNorm gains
    linear = 32 * (4 * 4096**2 + 3 * 4096 * 11008) + 32000 * 4096
    assert linear + 65 * 4096 == 6_738_415_616 - 32000 * 4096
    ops = build_graph("llama-2-7b", "decode", 1, 1024, mode="physics")
    assert total(ops, "weight_bytes", kind="linear") == 2 * linear
    assert total(ops, "weight_bytes", kind="norm") == 2 * 65 * 4096
    # decode matmul flops = 2 * batch * linear parameters
    assert total(ops, "flops", kind="linear") == 2 * linear


@pytest.mark.parametrize("mode", ["physics", "llm-viewer"])
@pytest.mark.parametrize("kv_bits", [16, 8, 4, 2])
@pytest.mark.parametrize("name", ["llama-2-7b", "llama-3-8b"])
def test_kv_bytes(name, kv_bits, mode):
    m = load_model(name)
    L, nkv, hd, b, s = m.num_hidden_layers, m.num_key_value_heads, m.head_dim, 3, 777
    dec = build_graph(name, "decode", b, s, kv_bits=kv_bits, mode=mode)
    # KV bytes = 2 (K and V) * L * kv_heads * head_dim * seq * batch * kv_bits/8
    assert total(dec, "kv_load_bytes") == 2 * L * nkv * hd * s * b * kv_bits / 8
    assert total(dec, "kv_store_bytes") == 2 * L * nkv * hd * b * kv_bits / 8  # the new token's K, V
    pre = build_graph(name, "prefill", b, s, kv_bits=kv_bits, mode=mode)
    assert total(pre, "kv_store_bytes") == 2 * L * nkv * hd * s * b * kv_bits / 8
    assert total(pre, "kv_load_bytes") == 2 * L * nkv * hd * s * b * kv_bits / 8


def test_gqa_attention_shapes_and_flops():
    m = load_model("llama-3-8b")  # 32 query heads, 8 KV heads, head_dim 128
    for stage, q in (("decode", 1), ("prefill", 300)):
        ops = build_graph(m, stage, batch=5, seq_len=300)
        qk = next(o for o in ops if o.name == "qk_matmul")
        sv = next(o for o in ops if o.name == "sv_matmul")
        assert (qk.M, qk.K, qk.N, qk.heads) == (4 * q, 128, 300, 5 * 8)
        assert (sv.M, sv.K, sv.N, sv.heads) == (4 * q, 300, 128, 5 * 8)
        assert qk.flops == sv.flops == 2 * q * 300 * 128 * 32 * 5
    for o in build_graph("gpt2-medium", "prefill", 2, 50, mode="physics"):
        if o.kind in ("linear", "attention"):
            assert o.flops == 2 * o.M * o.K * o.N * o.heads, o.name
        else:
            assert (o.K, o.N, o.heads) == (1, 1, 1), o.name


def test_moe_touches_only_the_routed_experts():
    m = load_model("mixtral-8x7b")
    H, ffn = m.hidden_size, m.intermediate_size
    for b, touched in ((1, 2), (3, 6), (4, 8), (64, 8)):
        ops = build_graph(m, "decode", b, 10, mode="physics")
        up = next(o for o in ops if o.name == "up_proj")
        assert (up.M, up.K, up.N, up.experts) == (2 * b, H, ffn, touched)
        assert up.weight_bytes == touched * H * ffn * 2
        assert up.flops == 2 * (2 * b) * H * ffn
        router = next(o for o in ops if o.name == "router")
        assert (router.M, router.K, router.N) == (b, H, 8)
    # llm-viewer mode: LLM-Viewer's Llama template, one dense expert, no router
    lv = build_graph(m, "decode", 64, 10, mode="llm-viewer")
    assert "router" not in {o.name for o in lv}
    assert next(o for o in lv if o.name == "up_proj").weight_bytes == H * ffn * 2


@pytest.mark.parametrize("w_bits", [16, 8, 4, 3])
def test_weight_bytes_scale_with_w_bits(w_bits):
    base = total(build_graph("llama-2-7b", "decode", 1, 64, w_bits=16), "weight_bytes")
    assert total(build_graph("llama-2-7b", "decode", 1, 64, w_bits=w_bits), "weight_bytes") == base * w_bits / 16


def test_activation_bytes_scale_with_a_bits():
    a16 = build_graph("gpt2", "prefill", 2, 64, a_bits=16)
    a8 = build_graph("gpt2", "prefill", 2, 64, a_bits=8)
    assert total(a8, "act_load_bytes") == total(a16, "act_load_bytes") / 2
    assert total(a8, "act_store_bytes") == total(a16, "act_store_bytes") / 2


@pytest.mark.parametrize("mode", ["physics", "llm-viewer"])
@pytest.mark.parametrize("flash", [False, True])
def test_every_layer_explicit_and_inputs_precede(mode, flash):
    m = load_model("llama-2-13b")
    ops = build_graph(m, "decode", 2, 64, mode=mode, use_flashattention=flash)
    per_layer = [o.name for o in ops if o.layer == 0]
    attn = ["fused_attention"] if flash else ["qk_matmul", "softmax", "sv_matmul"]
    assert per_layer == ["attn_norm", "q_proj", "k_proj", "v_proj", *attn, "out_proj", "attn_add", "mlp_norm",
                         "gate_proj", "up_proj", "mlp_act", "down_proj", "mlp_add"]
    for i in range(m.num_hidden_layers):
        assert [o.name for o in ops if o.layer == i] == per_layer
    outside = [o.name for o in ops if o.layer == -1]
    assert outside == (["embed", "final_norm", "lm_head"] if mode == "physics" else ["lm_head"])
    seen = set()
    for o in ops:  # execution order: every input was produced earlier
        assert o.kind in ("linear", "attention", "elementwise", "norm", "softmax")
        assert all(src in seen for src in o.inputs), (o.layer, o.name, o.inputs)
        seen.add((o.layer, o.name))
    assert ops[-1].inputs == (((-1, "final_norm"),) if mode == "physics" else ((m.num_hidden_layers - 1, "mlp_add"),))


def test_op_is_frozen_and_bytes_is_the_sum():
    op = build_graph("gpt2", "decode", 1, 8)[5]
    assert op.bytes == op.weight_bytes + op.act_load_bytes + op.act_store_bytes + op.kv_load_bytes + op.kv_store_bytes
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.flops = 0
    assert isinstance(op, Op) and {f.name for f in dataclasses.fields(Op)} >= {
        "name", "layer", "kind", "M", "K", "N", "heads", "flops", "weight_bytes", "act_load_bytes",
        "act_store_bytes", "kv_load_bytes", "kv_store_bytes"}


def test_load_model_from_a_dict():
    m = load_model("gpt2")
    assert load_model(dict(m.config, name="gpt2", source=m.source)) == m
    assert load_model(m) is m
    d = load_model({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 100,
                    "n_positions": 32})
    assert (d.intermediate_size, d.head_dim, d.num_key_value_heads, d.tie_word_embeddings) == (256, 16, 4, True)


@pytest.mark.parametrize("bad, match", [
    ({"model": "llama-9b"}, "model: expected one of the known models .*gpt2.*got 'llama-9b'"),
    ({"model": 7}, "model: expected"),
    ({"model": {"model_type": "llama", "hidden_size": 64}}, "model: expected a config dict with num_attention_heads"),
    ({"model": {"hidden_size": 64, "num_attention_heads": 6, "num_key_value_heads": 4, "num_hidden_layers": 1,
                "intermediate_size": 8, "vocab_size": 10}}, "num_key_value_heads"),
    ({"stage": "train"}, "stage: expected one of"),
    ({"mode": "exact"}, "mode: expected one of"),
    ({"batch": 0}, "batch: expected an integer >= 1"),
    ({"batch": -3}, "batch: expected an integer >= 1"),
    ({"batch": 1.5}, "batch: expected an integer"),
    ({"batch": True}, "batch: expected an integer"),
    ({"seq_len": 0}, "seq_len: expected an integer >= 1"),
    ({"w_bits": 0}, "w_bits: expected an integer in \\[1, 32\\]"),
    ({"a_bits": 33}, "a_bits: expected an integer in \\[1, 32\\]"),
    ({"kv_bits": 64}, "kv_bits: expected an integer in \\[1, 32\\]"),
    ({"use_flashattention": "yes"}, "use_flashattention"),
    ({"onchip_buffer": -1.0}, "onchip_buffer"),
])
def test_bad_input_names_the_argument(bad, match):
    kw = {"model": "gpt2", "stage": "decode", "batch": 1, "seq_len": 8, **bad}
    with pytest.raises((ValueError, TypeError), match=match):
        build_graph(**kw)


@settings(max_examples=40, deadline=None)
@given(heads=st.sampled_from([(4, 4), (4, 2), (8, 1)]), hd=st.sampled_from([8, 16]), layers=st.integers(1, 3),
       ffn=st.integers(1, 200), vocab=st.integers(2, 500), b=st.integers(1, 9), s=st.integers(1, 300),
       w_bits=st.integers(1, 32), gpt2=st.booleans())
def test_weight_bytes_match_num_parameters(heads, hd, layers, ffn, vocab, b, s, w_bits, gpt2):
    nh, nkv = heads
    H = nh * hd
    cfg = ({"model_type": "gpt2", "n_embd": H, "n_head": nh, "n_layer": layers, "n_inner": ffn, "vocab_size": vocab,
            "n_positions": 512} if gpt2 else
           {"model_type": "llama", "hidden_size": H, "num_attention_heads": nh, "num_key_value_heads": nkv,
            "num_hidden_layers": layers, "intermediate_size": ffn, "vocab_size": vocab})
    m = load_model(cfg)
    p = m.num_parameters()
    ops = build_graph(m, "decode", b, s, w_bits=w_bits)
    rows = min(b, vocab) + (1 if gpt2 else 0)
    tied = vocab * H if m.tie_word_embeddings else 0
    expect = (p["total"] - p["embedding"] + tied + rows * H) * w_bits / 8
    assert total(ops, "weight_bytes") == pytest.approx(expect, rel=1e-12)
    longer = build_graph(m, "decode", b, s + 1, w_bits=w_bits)
    assert total(longer, "kv_load_bytes") > total(ops, "kv_load_bytes")
    assert total(longer, "flops") > total(ops, "flops")


def physics_from_llm_viewer(op, m, stage, b, s, a=2.0, w=2.0):
    """The documented table (labkit/pim/roofline.py, docs/pim-physics-vs-llm-viewer.md) applied to an
    llm-viewer op: what physics mode must give for the same op."""
    q = 1 if stage == "decode" else s
    T, H, V, nh, nkv, hd = b * q, m.hidden_size, m.vocab_size, m.num_attention_heads, m.num_key_value_heads, m.head_dim
    k = m.num_experts_per_tok
    r = dataclasses.replace
    if op.name == "lm_head":  # 2*b*H*V flops; activations with the batch factor
        return r(op, flops=2 * op.flops, act_load_bytes=b * H * a, act_store_bytes=b * V * a)
    if op.name == "mlp_act":  # on intermediate_size (per routed expert); one operand without a gate
        n = T * k * m.intermediate_size
        ops = 2 if m.gated_mlp else 1
        return r(op, M=n, flops=ops * n, act_load_bytes=ops * n * a, act_store_bytes=n * a)
    if op.kind == "norm":  # RMSNorm 4 ops per element; gains (+ LayerNorm bias) as weights
        ln = m.norm == "layernorm"
        return r(op, flops=(7 if ln else 4) * op.M, weight_bytes=(2 if ln else 1) * H * w)
    if op.name in ("attn_add", "mlp_add"):  # both operands loaded
        return r(op, act_load_bytes=2 * op.act_load_bytes)
    if op.name == "qk_matmul" and stage == "prefill":  # Q over all query heads
        return r(op, act_load_bytes=op.act_load_bytes * nh / nkv)
    if op.name == "fused_attention":  # O stored once, q x hd; K/V over the nkv KV heads
        return r(op, act_store_bytes=q * hd * b * nh * a, kv_load_bytes=op.kv_load_bytes * nkv / nh)
    if op.kind == "linear":
        if m.bias:
            op = r(op, weight_bytes=op.weight_bytes + op.N * w)
        if m.is_moe and op.name in ("gate_proj", "up_proj", "down_proj"):
            e = min(m.num_local_experts, T * k)
            op = r(op, M=op.M * k, flops=op.flops * k, weight_bytes=op.weight_bytes * e, experts=e,
                   act_load_bytes=op.act_load_bytes * k, act_store_bytes=op.act_store_bytes * k)
        return op
    return op


@pytest.mark.parametrize("flash", [False, True])
@pytest.mark.parametrize("stage", ["prefill", "decode"])
@pytest.mark.parametrize("name", ["llama-2-7b", "llama-3-8b", "gpt2", "mixtral-8x7b"])
def test_physics_differs_from_llm_viewer_exactly_as_documented(name, stage, flash):
    m, b, s = load_model(name), 3, 200
    lv = {(o.layer, o.name): o for o in build_graph(m, stage, b, s, mode="llm-viewer", use_flashattention=flash)}
    ph = {(o.layer, o.name): o for o in build_graph(m, stage, b, s, mode="physics", use_flashattention=flash)}
    only_ph = {key[1] for key in set(ph) - set(lv)}
    only_lv = {key[1] for key in set(lv) - set(ph)}
    assert only_ph == {"embed", "final_norm"} | ({"router"} if m.is_moe else set())
    assert only_lv == (set() if m.gated_mlp else {"gate_proj"})  # LLM-Viewer's opt.py template's gate_proj
    for key in set(lv) & set(ph):
        if key[0] in (0, -1, m.num_hidden_layers - 1):
            expect = physics_from_llm_viewer(lv[key], m, stage, b, s)
            # every number equal; the wiring (inputs) differs by the extra ops and is tested above
            assert dataclasses.replace(ph[key], inputs=()) == dataclasses.replace(expect, inputs=()), key


@pytest.mark.parametrize("flash", [False, True])
@pytest.mark.parametrize("mode", ["physics", "llm-viewer"])
@pytest.mark.parametrize("name", ["gpt2", "llama-3-8b", "mixtral-8x7b"])
def test_every_layer_is_the_one_layer_of_graph_parts(name, mode, flash):
    """What roofline's fast path rests on: layer i is graph_parts' one layer with layer = i and its
    input wired to layer i-1 (or the embedding); the ops outside the stack are its before / after."""
    kw = dict(stage="prefill", batch=3, seq_len=50, w_bits=4, mode=mode, use_flashattention=flash, onchip_buffer=2e5)
    parts, ops = graph_parts(name, **kw), build_graph(name, **kw)
    L, n, e = parts.cfg.num_hidden_layers, len(parts.layer), len(parts.before)
    assert len(ops) == e + L * n + len(parts.after)
    assert ops[:e] == [Op(*row) for row in parts.before] and ops[e + L * n:] == [Op(*row) for row in parts.after]
    for i in range(L):
        x = (i - 1, "mlp_add") if i else ((-1, "embed") if mode == "physics" else None)
        for row, op in zip(parts.layer, ops[e + i * n:e + (i + 1) * n], strict=True):
            assert dataclasses.replace(op, layer=0, inputs=()) == Op(*row[:-1], ())
            assert op.layer == i and op.inputs == tuple(x if s == "x" else (i, s) for s in row[-1]
                                                        if s != "x" or x is not None)
