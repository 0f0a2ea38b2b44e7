"""A byte-level tokenizer with a ChatML-style template: exact, dependency-free, for tests and fakes.

Ids 0-255 are the UTF-8 bytes; special tokens follow. It round-trips any text exactly, which makes
token-level assertions in tests easy to compute by hand.
"""

from __future__ import annotations

from typing import Any

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


class ByteTokenizer:
    """Tokenizer protocol implementation over UTF-8 bytes."""

    def __init__(self) -> None:
        self.special_ids = {tok: 256 + i for i, tok in enumerate(SPECIALS)}
        self.eos_token_id: int | None = self.special_ids["<|im_end|>"]
        self.vocab_size = 256 + len(SPECIALS)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        rest = text
        while rest:
            # Split on the earliest special token, byte-encode what precedes it.
            hits = [(rest.find(tok), tok) for tok in SPECIALS if tok in rest]
            if not hits:
                ids.extend(rest.encode("utf-8"))
                break
            pos, tok = min(hits)
            ids.extend(rest[:pos].encode("utf-8"))
            ids.append(self.special_ids[tok])
            rest = rest[pos + len(tok) :]
        return ids

    def decode(self, ids: list[int]) -> str:
        out: list[str] = []
        buf = bytearray()
        for i in ids:
            if i < 256:
                buf.append(i)
            else:
                out.append(buf.decode("utf-8", errors="replace"))
                buf.clear()
                out.append(SPECIALS[i - 256])
        out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)

    def chat_ids(self, messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> list[int]:
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        if add_generation_prompt:
            text += "<|im_start|>assistant\n"
        return self.encode(text)
