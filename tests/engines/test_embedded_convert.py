"""The GGUF -> HF conversion of the embedded model runs once when several processes or threads need it
at the same time (three seeds of the learning test started together raced on its temp folder)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from asearcher.engines import embedded


def test_concurrent_first_uses_convert_once_and_all_get_the_folder(tmp_path, monkeypatch):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")  # never read: the conversion itself is replaced below
    out_dir = tmp_path / "models" / "model"
    monkeypatch.setattr(embedded, "converted_dir", lambda g: out_dir)
    calls = []

    def slow_convert(g: Path, out: Path) -> None:  # stands in for the 30 s de-quantisation
        calls.append(g)
        time.sleep(0.3)
        tmp = out.with_name(out.name + ".tmp")
        tmp.mkdir(parents=True)
        (tmp / "config.json").write_text("{}")
        tmp.rename(out)

    monkeypatch.setattr(embedded, "_convert_gguf", slow_convert)
    # a killed earlier conversion left its temp folder behind
    (tmp_path / "models" / "model.tmp").mkdir(parents=True)
    got: list[Path] = []
    threads = [threading.Thread(target=lambda: got.append(embedded.resolve_model_dir(gguf))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert got == [out_dir] * 3 and (out_dir / "config.json").is_file()
