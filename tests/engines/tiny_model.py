"""A tiny random Llama over the ByteTokenizer vocabulary: real transformers code, built in ~0.1 s."""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from asearcher.engines.byte_tokenizer import ByteTokenizer


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    """~0.1M parameters; a large init range makes logits peaky, so greedy argmax has no near-ties
    that float noise between batched and unbatched forward passes could flip."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=ByteTokenizer().vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        initializer_range=0.2,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config).eval()
