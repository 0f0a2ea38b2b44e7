from asearcher.api import GenRequest
from asearcher.engines.byte_tokenizer import ByteTokenizer
from asearcher.engines.scripted import ScriptedEngine


def test_byte_tokenizer_round_trips_text_and_specials():
    tok = ByteTokenizer()
    text = "héllo <|im_end|> wörld"
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert ids.count(tok.eos_token_id) == 1
    assert tok.encode("ab") == [97, 98]


async def test_scripted_engine_cuts_at_stop_and_tags_versions():
    eng = ScriptedEngine(["<search>q</search> trailing", "x" * 50])
    eng.version = 3
    out = await eng.agenerate(GenRequest(input_ids=[1, 2], stop=["</search>"]))
    assert out.text == "<search>q</search>"
    assert out.versions == [3] * len(out.output_ids)
    assert len(out.logprobs) == len(out.output_ids)
    out2 = await eng.agenerate(GenRequest(input_ids=[1], max_new_tokens=10))
    assert out2.finish_reason == "length" and len(out2.output_ids) == 10
