"""Decoder-only transformer shapes from HuggingFace-style config dicts.

`load_model("llama-2-7b")` reads a shipped config (labkit/pim/data/models/<name>.json, each with a
"source" field naming the HF hub config.json it was copied from); `load_model({...})` normalises any
config dict with the keys of GPT-2 (n_embd, n_layer, n_head, n_inner) or of Llama / Mistral /
Mixtral (hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
intermediate_size, num_local_experts, num_experts_per_tok).

The architecture family decides what the op graph contains:
    gpt2            LayerNorm (gamma, beta), biases on every linear, GELU MLP (up, down), learned
                    position table (n_positions x hidden), LM head tied to the token embedding
    everything else RMSNorm (gamma), no biases, SwiGLU MLP (gate, up, down), RoPE (no table),
                    untied LM head unless tie_word_embeddings; num_local_experts > 1 makes the MLP a
                    mixture of experts with a router (hidden -> experts) in front
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from labkit.validate import fail, type_fail

MODELS_DIR = Path(__file__).parent / "data" / "models"


@dataclass(frozen=True)
class ModelConfig:
    """The shape of one decoder-only transformer. `config` is the HF dict it came from."""

    name: str
    model_type: str
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    gated_mlp: bool  # SwiGLU: act(gate(x)) * up(x); else act(up(x))
    norm: str  # "rmsnorm" (gamma) or "layernorm" (gamma, beta)
    bias: bool  # every linear has a bias (GPT-2)
    tie_word_embeddings: bool
    max_position_embeddings: int
    learned_positions: bool  # GPT-2's wpe table
    num_local_experts: int = 1  # 1 = dense MLP
    num_experts_per_tok: int = 1
    source: str = ""
    config: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_moe(self) -> bool:
        return self.num_local_experts > 1

    @property
    def kv_dim(self) -> int:
        """Width of one token's K (or V) in one layer: num_key_value_heads * head_dim."""
        return self.num_key_value_heads * self.head_dim

    def num_parameters(self) -> dict:
        """Parameter counts by part (exact, as HF's modules hold them)."""
        H, ffn, V = self.hidden_size, self.intermediate_size, self.vocab_size
        q = self.num_attention_heads * self.head_dim
        attn = H * q + 2 * H * self.kv_dim + q * H
        mlp = (3 if self.gated_mlp else 2) * H * ffn
        norm = (2 if self.norm == "layernorm" else 1) * H  # per norm
        if self.bias:
            attn += q + 2 * self.kv_dim + H
            mlp += ffn + H
        if self.is_moe:
            mlp = self.num_local_experts * mlp + H * self.num_local_experts  # experts + router
        layer = attn + mlp + 2 * norm
        embed = V * H + (self.max_position_embeddings * H if self.learned_positions else 0)
        lm_head = 0 if self.tie_word_embeddings else V * H
        total = embed + self.num_hidden_layers * layer + norm + lm_head
        return {"embedding": embed, "per_layer": layer, "final_norm": norm, "lm_head": lm_head, "total": total}


@lru_cache(maxsize=1)
def _shipped() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in MODELS_DIR.glob("*.json")))


def list_models() -> list[str]:
    """Names of the shipped model configs."""
    return list(_shipped())


def load_model(model) -> ModelConfig:
    """A `ModelConfig` from a shipped name (see `list_models()`), an HF-style config dict, or a
    `ModelConfig` (returned as is)."""
    if isinstance(model, ModelConfig):
        return model
    if isinstance(model, str):
        if model not in _shipped():
            raise fail("model", f"one of the known models {list_models()} (or an HF-style config dict)", model)
        return _load_shipped(model)
    if isinstance(model, dict):
        return _normalise(model)
    raise type_fail("model", "a model name, an HF-style config dict or a ModelConfig", model)


@lru_cache(maxsize=64)
def _load_shipped(name: str) -> ModelConfig:
    # read and parsed once per name (~30 us a time, as long as the rest of a roofline call; LLM-Viewer's
    # analyzer also reads its config once); the frozen ModelConfig is shared, its `config` dict read-only
    return _normalise({**json.loads((MODELS_DIR / f"{name}.json").read_text()), "name": name})


def _get(cfg: dict, *keys, default=None, required=True):
    for k in keys:
        if cfg.get(k) is not None:
            return cfg[k]
    if default is None and required:
        raise fail("model", f"a config dict with {' / '.join(keys)}", "one without it", described=True)
    return default


def _normalise(cfg: dict) -> ModelConfig:
    model_type = str(cfg.get("model_type", "llama"))
    name = str(cfg.get("name") or cfg.get("_name_or_path") or model_type)
    if model_type == "gpt2":
        H = _get(cfg, "n_embd", "hidden_size")
        heads = _get(cfg, "n_head", "num_attention_heads")
        kw = dict(
            hidden_size=H, num_hidden_layers=_get(cfg, "n_layer", "num_hidden_layers"),
            num_attention_heads=heads, num_key_value_heads=heads,
            intermediate_size=_get(cfg, "n_inner", default=4 * H),  # GPT2MLP: n_inner or 4 * n_embd
            max_position_embeddings=_get(cfg, "n_positions", "max_position_embeddings"),
            gated_mlp=False, norm="layernorm", bias=True, learned_positions=True,
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", True)))
    else:
        heads = _get(cfg, "num_attention_heads")
        kw = dict(
            hidden_size=_get(cfg, "hidden_size"), num_hidden_layers=_get(cfg, "num_hidden_layers"),
            num_attention_heads=heads, num_key_value_heads=_get(cfg, "num_key_value_heads", default=heads),
            intermediate_size=_get(cfg, "intermediate_size"),
            max_position_embeddings=_get(cfg, "max_position_embeddings", default=0, required=False),
            gated_mlp=True, norm="rmsnorm", bias=bool(cfg.get("attention_bias", False)), learned_positions=False,
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            num_local_experts=_get(cfg, "num_local_experts", default=1),
            num_experts_per_tok=_get(cfg, "num_experts_per_tok", default=1))
    kw["vocab_size"] = _get(cfg, "vocab_size")
    kw["head_dim"] = _get(cfg, "head_dim", default=kw["hidden_size"] // heads if isinstance(heads, int) else 0)
    kw.setdefault("num_local_experts", 1)
    kw.setdefault("num_experts_per_tok", 1)
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
                "intermediate_size", "vocab_size", "num_local_experts", "num_experts_per_tok"):
        v = kw[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise fail("model", f"a config whose {key} is a positive integer", v)
    if kw["num_attention_heads"] % kw["num_key_value_heads"]:
        raise fail("model", f"num_attention_heads a multiple of num_key_value_heads "
                   f"({kw['num_key_value_heads']})", kw["num_attention_heads"])
    if kw["num_experts_per_tok"] > kw["num_local_experts"]:
        raise fail("model", f"num_experts_per_tok <= num_local_experts ({kw['num_local_experts']})",
                   kw["num_experts_per_tok"])
    if kw["num_local_experts"] == 1:
        kw["num_experts_per_tok"] = 1
    raw = {k: v for k, v in cfg.items() if k not in ("name", "source")}
    return ModelConfig(name=name, model_type=model_type, source=str(cfg.get("source", "")), config=raw, **kw)
