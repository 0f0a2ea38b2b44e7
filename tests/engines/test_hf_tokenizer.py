import pytest

from asearcher.api import Tokenizer
from asearcher.engines.hf_tokenizer import HFTokenizer
from tiny_hf import tiny_hf_tokenizer

TEXT = "Héllo  wörld <search>q</search>\n<|im_end|> tail"


def check_adapter(tok: HFTokenizer) -> None:
    assert isinstance(tok, Tokenizer)
    ids = tok.encode(TEXT)
    assert tok.decode(ids) == TEXT  # exact round trip, special tokens kept
    assert ids.count(tok.eos_token_id) == 1  # "<|im_end|>" in text is the EOS token
    assert tok.encode("hi")[0] != tok.hf.bos_token_id or tok.hf.bos_token_id is None  # no BOS added
    msgs = [{"role": "user", "content": "hi"}]
    prompt = tok.decode(tok.chat_ids(msgs))
    assert prompt.endswith("<|im_start|>assistant\n") and "hi<|im_end|>" in prompt
    assert not tok.decode(tok.chat_ids(msgs, add_generation_prompt=False)).endswith("assistant\n")


def test_hf_tokenizer_round_trip_on_tiny_byte_bpe():
    check_adapter(HFTokenizer(tiny_hf_tokenizer()))


@pytest.mark.slow  # extracting the tokenizer from the GGUF takes ~10-25 s here
def test_hf_tokenizer_round_trip_on_embedded_model():
    from asearcher.engines.embedded import embedded_model_path, load_tokenizer

    tok = load_tokenizer(embedded_model_path())
    check_adapter(tok)
    assert tok.eos_token_id == tok.encode("<|im_end|>")[0]
