"""A tiny HF model folder (random Llama + byte-level BPE tokenizer with a ChatML template), built in
well under a second, for tests of the code paths that load models from disk."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from tokenizers.pre_tokenizers import ByteLevel
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_hf_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE with no merges: every byte is a token, so any text round-trips."""
    vocab = {ch: i for i, ch in enumerate(sorted(ByteLevel.alphabet()))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    hf.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    hf.chat_template = CHATML
    return hf


def tiny_hf_folder(path: Path, max_positions: int = 512, tie_word_embeddings: bool = False) -> Path:
    """Write a tiny random Llama and its tokenizer to `path` (an HF model folder); its context window
    (`max_position_embeddings`, what agents' budgets are clipped to) is `max_positions`;
    `tie_word_embeddings` as SmolLM2 (lm_head is embed_tokens)."""
    tok = tiny_hf_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
        tie_word_embeddings=tie_word_embeddings,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path
