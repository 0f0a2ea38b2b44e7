"""The chat template's text between turns, so an append-only context can open real chat turns.

An instruct model ends its reply with its end-of-turn token and expects the next input in a new
turn. `ChatFrame.from_tokenizer` renders a probe conversation with the tokenizer's own chat template
and keeps the text between the messages; the agent then appends an observation as
`after_assistant + <user text> + before_assistant` (all context, loss mask 0), e.g. for ChatML:

    ...</search><|im_end|>\\n<|im_start|>user\\n<information>...</information><|im_end|>\\n<|im_start|>assistant\\n

If the model sampled the end-of-turn token itself, that part of `after_assistant` is not repeated.
"""

from __future__ import annotations

from dataclasses import dataclass

from asearcher.api import Tokenizer

# Probe contents: plain words no template rewrites (some strip whitespace or reasoning blocks).
_USER0, _ASSISTANT, _USER1 = "PROBEUSERZERO", "PROBEASSISTANTONE", "PROBEUSERTWO"


@dataclass(frozen=True, slots=True)
class ChatFrame:
    """Template text around a user turn that follows an assistant reply.

    Attributes:
        after_assistant: from the end of an assistant message to the start of the next user message
            (ChatML: "<|im_end|>\\n<|im_start|>user\\n").
        before_assistant: from the end of a user message to the start of the assistant's reply,
            generation prompt included (ChatML: "<|im_end|>\\n<|im_start|>assistant\\n").
        end_of_turn: the text of the model's end-of-turn (EOS) token ("" when it has none).
    """

    after_assistant: str
    before_assistant: str
    end_of_turn: str = ""

    @classmethod
    def from_tokenizer(cls, tok: Tokenizer) -> ChatFrame | None:
        """The frame of `tok`'s chat template; None when it has no template, or one whose turns cannot
        be told apart in a probe conversation (a base model: use the plain-text context)."""
        messages = [
            {"role": "user", "content": _USER0},
            {"role": "assistant", "content": _ASSISTANT},
            {"role": "user", "content": _USER1},
        ]
        try:
            text = tok.decode(tok.chat_ids(messages, add_generation_prompt=True))
        except ValueError:  # transformers: "tokenizer.chat_template is not set"
            return None
        a, u = text.find(_ASSISTANT), text.find(_USER1)
        if a < 0 or u < a:
            return None
        eot = tok.decode([tok.eos_token_id]) if tok.eos_token_id is not None else ""
        return cls(text[a + len(_ASSISTANT) : u], text[u + len(_USER1) :], eot)

    def close_assistant(self, sampled_eos: bool) -> str:
        """What to append after a reply to open the next user turn: `after_assistant`, less the
        end-of-turn token when the model sampled it (`sampled_eos`: its last output id is the EOS)."""
        eot = self.end_of_turn
        if sampled_eos and eot and self.after_assistant.startswith(eot):
            return self.after_assistant[len(eot) :]
        return self.after_assistant
