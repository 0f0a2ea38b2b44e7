"""A decoder-only model's shapes (layers, widths, heads, vocabulary) and the byte counts that follow from
them: parameters, KV cache per token, activations per token. Read from the model folder's config.json,
or, when the folder is not on this machine, from a small table of the recipe models' published configs.
No torch, no weights: `asearcher train --dry-run` (rl/distributed/plan.py) sizes a run with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from asearcher.errors import UserError


@dataclass(frozen=True)
class ModelShape:
    """The shapes of a Llama / Qwen2-style decoder (SwiGLU MLP, RMSNorm, grouped-query attention).

    Attributes:
        name: the model's name as shown in the plan.
        source: where the shapes come from: "<folder>/config.json" or "built-in table (...)".
        layers, hidden, intermediate: decoder layers, hidden width, MLP width.
        heads, kv_heads, head_dim: query heads, key/value heads (GQA), width of one head.
        vocab: vocabulary size (rows of the embedding and of the LM head).
        tied: the LM head shares the embedding's weights.
        qkv_bias: q/k/v projections carry biases (Qwen2 does, Llama does not).
    """

    name: str
    source: str
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool = False
    qkv_bias: bool = False

    @property
    def layer_params(self) -> int:
        """One decoder layer: q, k, v, o projections, gate/up/down MLP, two RMSNorm weights."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        attn = self.hidden * (q + 2 * kv) + q * self.hidden + (q + 2 * kv if self.qkv_bias else 0)
        return attn + 3 * self.hidden * self.intermediate + 2 * self.hidden

    @property
    def root_params(self) -> int:
        """What is not in a decoder layer: embedding, LM head (unless tied), final norm."""
        return self.vocab * self.hidden * (1 if self.tied else 2) + self.hidden

    @property
    def params(self) -> int:
        return self.layers * self.layer_params + self.root_params

    def kv_bytes_per_token(self, dtype_bytes: int, tp: int = 1, pp: int = 1) -> int:
        """KV cache of one token on one GPU of a server with tensor parallel `tp` and pipeline parallel `pp`:
        2 (K and V) x layers x kv_heads x head_dim x dtype bytes; tp splits the KV heads (a head is
        replicated when tp exceeds them), pp splits the layers."""
        kv_heads = max(1, -(-self.kv_heads // tp))
        layers = -(-self.layers // pp)
        return 2 * layers * kv_heads * self.head_dim * dtype_bytes

    def saved_bytes_per_token_layer(self, dtype_bytes: int) -> int:
        """Activations one decoder layer keeps for its backward, per token (an estimate, flash/sdpa attention
        without the T x T matrix): six hidden-wide tensors (input-norm input, q/k/v projection input, q,
        attention output = o_proj input, post-attention-norm input, gate/up input), k and v (2 x kv width),
        and three MLP-wide ones (gate output, up output, down-projection input)."""
        kv = self.kv_heads * self.head_dim
        return dtype_bytes * (6 * self.hidden + 2 * kv + 3 * self.intermediate)


def _qwen2(name: str, layers: int, hidden: int, intermediate: int, heads: int, kv_heads: int) -> ModelShape:
    return ModelShape(name, "", layers, hidden, intermediate, heads, kv_heads, hidden // heads, 152064,
                      tied=False, qkv_bias=True)


# The published config.json values of the models the shipped recipes name (Hugging Face model cards /
# config.json of each). QwQ-32B has Qwen2.5-32B's shapes. Keys are lower-case folder names.
KNOWN_SHAPES: dict[str, ModelShape] = {
    "qwen2.5-7b": _qwen2("Qwen2.5-7B", 28, 3584, 18944, 28, 4),
    "qwen2.5-14b": _qwen2("Qwen2.5-14B", 48, 5120, 13824, 40, 8),
    "qwen2.5-32b": _qwen2("Qwen2.5-32B", 64, 5120, 27648, 40, 8),
    "qwq-32b": _qwen2("QwQ-32B", 64, 5120, 27648, 40, 8),
    "smollm2-135m-instruct": ModelShape("SmolLM2-135M-Instruct", "", 30, 576, 1536, 9, 3, 64, 49152, tied=True),
}


def _known(model: str) -> ModelShape | None:
    """The table's entry for a folder named like a known model ('Qwen2.5-7B-Instruct' has the base's
    shapes; AReaL-style 'Qwen__Qwen2.5-7B' folder names too)."""
    name = Path(model).name.lower().split("__")[-1].removesuffix(".gguf")
    for key in (name, name.removesuffix("-instruct")):
        if key in KNOWN_SHAPES:
            return KNOWN_SHAPES[key]
    # The embedded model ships as e.g. SmolLM2-135M-Instruct.Q4_1.gguf.
    return next((s for k, s in KNOWN_SHAPES.items() if name.startswith(k + ".")), None)


def shape_from_config(path: Path) -> ModelShape:
    """The shapes in an HF config.json; a missing key is a UserError naming the file and the key."""
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read the model's config ({e})") from None
    cfg = cfg.get("text_config", cfg)  # multimodal configs nest the language model's

    def need(key: str) -> int:
        if key not in cfg:
            raise UserError(f"{path}: no {key!r} (the dry run sizes decoder-only HF models: Llama / Qwen2 style)")
        return int(cfg[key])

    heads = need("num_attention_heads")
    hidden = need("hidden_size")
    return ModelShape(
        name=path.parent.name, source=str(path), layers=need("num_hidden_layers"), hidden=hidden,
        intermediate=need("intermediate_size"), heads=heads, kv_heads=int(cfg.get("num_key_value_heads", heads)),
        head_dim=int(cfg.get("head_dim") or hidden // heads), vocab=need("vocab_size"),
        tied=bool(cfg.get("tie_word_embeddings", False)),
        qkv_bias=cfg.get("model_type") == "qwen2" or bool(cfg.get("attention_bias", False)))


def model_shape(model: str) -> ModelShape:
    """The shapes of `model` (the `model` key: an HF folder, a .gguf file, or "" for the embedded model):
    its config.json when the folder is here, else the built-in table; else a UserError naming the key."""
    if not model:
        from asearcher.engines.embedded import embedded_model_path

        model = str(embedded_model_path())
    config = Path(model).expanduser() / "config.json"
    if config.is_file():
        return shape_from_config(config)
    known = _known(model)
    if known is None:
        raise UserError(f"model={model!r}: no config.json there and not one of the built-in shapes "
                        f"({', '.join(s.name for s in KNOWN_SHAPES.values())}): the dry run needs the model's "
                        "config.json to size memory (copy it there, no weights needed)")
    why = "folder not on this machine" if not Path(model).exists() else "no config.json there"
    return replace(known, source=f"built-in table ({known.name}; {why})")
