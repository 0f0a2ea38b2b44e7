"""The one redaction function: credentials in URLs, query strings, headers and key-like strings go;
everything else stays as it was."""

import logging

import pytest

from asearcher.redact import RedactingFilter, redact, redact_text


@pytest.mark.parametrize("text, expected", [
    ("http://bob:s3cret@host:8000/v1", "http://***@host:8000/v1"),
    ("https://token@host/x", "https://***@host/x"),
    ("POST http://u:p@127.0.0.1:9/retrieve failed", "POST http://***@127.0.0.1:9/retrieve failed"),
    ("http://h/v1?api_key=abc&x=1", "http://h/v1?api_key=***&x=1"),
    ("http://h/v1?x=1&access_token=abc#f", "http://h/v1?x=1&access_token=***#f"),
    ("https://h/s?key=AIzaXYZ", "https://h/s?key=***"),
    ("Authorization: Bearer abcdefghijkl", "Authorization: ***"),
    ('{"authorization": "Basic dXNlcjpwYXNz"}', '{"authorization": "***"}'),
    ("x-api-key=abc123", "x-api-key=***"),
    ("sent Bearer abcdefghijklmnop here", "sent Bearer *** here"),
    ("key sk-abcdefghijklmnopqrstuv", "key ***"),
])
def test_credentials_are_masked(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", [
    "Who painted the Mona Lisa?", "http://example.com/wiki/Mona_Lisa?title=x", "email bob@example.com",
    "the key to the city", "max_new_tokens=96", "",
])
def test_ordinary_text_is_unchanged(text):
    assert redact_text(text) == text


def test_nested_values_and_secret_keys():
    value = {"api_key": "abc", "openai_api_key": "x", "eos_token": "</s>", "gen_tokens": 3,
             "urls": ["http://u:p@h/", ("http://h/?token=t",)], "password": ""}
    assert redact(value) == {"api_key": "***", "openai_api_key": "***", "eos_token": "</s>", "gen_tokens": 3,
                             "urls": ["http://***@h/", ("http://h/?token=***",)], "password": ""}


def test_log_filter_redacts_the_merged_message():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "POST %s failed", ("http://u:pw@h/v1",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "POST http://***@h/v1 failed"
