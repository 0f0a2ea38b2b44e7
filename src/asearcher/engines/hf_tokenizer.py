"""Adapter from a transformers tokenizer to `asearcher.api.Tokenizer` (the few operations agents need)."""

from __future__ import annotations

from typing import Any


class HFTokenizer:
    """`api.Tokenizer` over a transformers (fast) tokenizer.

    `encode` adds no special tokens (the agent builds contexts piece by piece and must not get a BOS
    in the middle), `decode` keeps special tokens (the agent parses `<|im_end|>` and tags from it), and
    `chat_ids` renders with the model's own chat template.
    """

    def __init__(self, hf_tokenizer: Any) -> None:
        self.hf = hf_tokenizer
        self.eos_token_id: int | None = hf_tokenizer.eos_token_id
        self.pad_token_id: int | None = (
            hf_tokenizer.pad_token_id if hf_tokenizer.pad_token_id is not None else self.eos_token_id
        )

    @property
    def vocab_size(self) -> int:
        """Number of ids the tokenizer can produce (added tokens included)."""
        return len(self.hf)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, no special tokens added."""
        return list(self.hf.encode(text, add_special_tokens=False))

    def decode(self, ids: list[int]) -> str:
        """Text of `ids`, special tokens kept and no whitespace clean-up (so decode(encode(t)) == t)."""
        return self.hf.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def chat_ids(self, messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> list[int]:
        """Token ids of `messages` rendered by the model's chat template."""
        text = self.hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        return self.encode(text)

    def __repr__(self) -> str:
        return f"HFTokenizer({type(self.hf).__name__}, vocab={self.vocab_size}, eos={self.eos_token_id})"
