"""The trainer's model: one function builds it for every path (in-process, Ray trainer actor, FSDP2 ranks):
dtype, LoRA adapters, device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asearcher.config import cfg
from asearcher.errors import UserError
from asearcher.hf_load_lock import HF_LOAD_LOCK

LORA_HINT = "pip install 'peft>=0.17'"


@dataclass
class LoraConfig:
    """Optional LoRA adapters on the trainer's model (needs the optional `peft` package)."""

    enabled: bool = cfg(False, "Train LoRA adapters instead of all weights (the sync sends merged weights).")
    rank: int = cfg(16, "LoRA rank.")
    alpha: int = cfg(32, "LoRA alpha.")
    target_modules: list[str] = cfg(["q_proj", "k_proj", "v_proj", "o_proj"], "Modules that get adapters.")


def apply_lora(model: Any, config: LoraConfig) -> Any:
    """Wrap `model` with LoRA adapters (peft); a clear UserError when peft is not installed."""
    try:
        from peft import LoraConfig as PeftLoraConfig
        from peft import get_peft_model
    except ImportError:
        raise UserError(f"lora.enabled=true needs the optional package peft: {LORA_HINT}") from None
    peft_config = PeftLoraConfig(r=config.rank, lora_alpha=config.alpha, target_modules=list(config.target_modules),
                                 task_type="CAUSAL_LM")
    return get_peft_model(model, peft_config)


def trainer_dtype(name: str, device: str, sharded: bool = False) -> Any:
    """The torch dtype of the trainer's weights for `trainer_dtype=name` on `device`. auto: bfloat16 on a
    CUDA device that computes it, else float32; a sharded (FSDP2) trainer keeps float32 master weights
    under auto, because it computes in fsdp.param_dtype anyway."""
    import torch

    if name == "auto":
        bf16 = (not sharded and device.startswith("cuda") and torch.cuda.is_available()
                and torch.cuda.is_bf16_supported())
        return torch.bfloat16 if bf16 else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def build_trainer_model(source: Any, dtype: str, lora: LoraConfig, seed: int, device: str = "cpu",
                        sharded: bool = False, attn_implementation: str = "") -> Any:
    """The model a trainer updates, the same way on every path (in-process, Ray trainer actor, FSDP2 rank).

    `source`: a model folder / .gguf file (loaded in float32), or a loaded model, which is deep-copied so
    the trainer never shares weights with an engine. Then cast to `trainer_dtype(dtype, device, sharded)`,
    moved to `device`, given the attention kernel `attn_implementation` (engine.attn_implementation; empty =
    as loaded), and wrapped with LoRA adapters when `lora.enabled`; the adapters are initialised from
    `seed` (every FSDP2 rank builds the same ones) without touching the global RNG.
    """
    import copy

    import torch

    if isinstance(source, torch.nn.Module):
        model = copy.deepcopy(source)
    else:
        from asearcher.engines.embedded import load_causal_lm

        model, _ = load_causal_lm(source, device="cpu", dtype="float32")
    model = model.to(device=device, dtype=trainer_dtype(dtype, device, sharded))
    return _finish(model, lora, seed, attn_implementation)


def build_meta_trainer_model(source: Any, dtype: str, lora: LoraConfig, seed: int,
                             attn_implementation: str = "") -> Any:
    """`build_trainer_model(source, ..., sharded=True)` without its weights: the same modules, with every
    parameter on the meta device (no memory), for FSDP2 ranks that then fill only their own shards, read
    from the checkpoint or broadcast from rank 0 (rl/distributed/fsdp_trainer.py). `source`: a model folder
    or .gguf file (its config is read).

    Buffers are real: those computed at construction and absent from checkpoints (the rotary `inv_freq`)
    hold the values a loaded model has. Tied weights (lm_head = embed_tokens) are one parameter, as after
    `from_pretrained`; LoRA adapters are on the meta device too (rank 0's are broadcast)."""
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    from asearcher.engines.embedded import resolve_model_dir

    hf_config = AutoConfig.from_pretrained(str(resolve_model_dir(source)))
    # include_buffers=False: buffers are built on CPU by the modules' own code, so they are right.
    with init_empty_weights(include_buffers=False):
        with HF_LOAD_LOCK:
            model = AutoModelForCausalLM.from_config(hf_config, dtype=trainer_dtype(dtype, "cpu", sharded=True))
    model.tie_weights()  # accelerate's parameter patch leaves the tied lm_head a parameter of its own
    model.eval()  # as load_causal_lm leaves a loaded model (dropout off)
    with torch.device("meta"):  # LoRA adapters built here stay on meta
        return _finish(model, lora, seed, attn_implementation)


def _finish(model: Any, lora: LoraConfig, seed: int, attn_implementation: str) -> Any:
    """The attention kernel, then LoRA adapters initialised from `seed` without touching the global RNG."""
    import torch

    if attn_implementation:
        set_attention(model, attn_implementation)
    if lora.enabled:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = apply_lora(model, lora)
    return model


def set_attention(model: Any, name: str) -> None:
    """Switch `model` (an HF model) to the attention kernel `name` ('sdpa', 'eager', 'flash_attention_2');
    a kernel this machine lacks is a UserError naming engine.attn_implementation. The packed-logprob method
    follows it (rl/algo/logprobs.py: position_ids under flash attention, else a block mask)."""
    try:
        model.set_attn_implementation(name)
    except (ValueError, ImportError) as e:
        raise UserError(f"engine.attn_implementation={name!r}: {e}") from None


def export_model_weights(model: Any) -> dict[str, Any]:
    """What engines load from an unsharded trainer model: its tensors under the base model's names, LoRA
    merged (a copy) for a peft model, else detached views of the parameters (no copy: a WeightSync that
    keeps them past the next step copies them itself)."""
    if hasattr(model, "merge_adapter") and hasattr(model, "get_base_model"):  # a peft model
        model.merge_adapter()
        try:
            base = model.get_base_model().state_dict()
            return {k.replace(".base_layer.", "."): v.detach().clone().contiguous()
                    for k, v in base.items() if "lora_" not in k}
        finally:
            model.unmerge_adapter()
    return {k: v.detach() for k, v in model.state_dict().items()}
