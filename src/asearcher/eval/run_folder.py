"""An eval run folder's identity: the settings that determine its records, checked on every resume.

`run.json` records what the results in `results.jsonl` were produced with: the data file, agent,
model, retriever, judge, the selected prompt's name and text hash (`agent.prompt_record`), and every config key that can change a
record (agent, engine, tools, metrics, sampling). Rerunning into the folder resumes only when all of
them are equal; otherwise it is refused with a message naming each key that differs, so that records
made with different settings never mix. `--force-new` moves the old files aside and starts anew.
Keys that only change how fast or how durably a run goes (timeouts, retries, threads, fsync) are
left out: changing them on resume is safe.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from asearcher.config import dotted, to_dict
from asearcher.errors import UserError
from asearcher.redact import redact

logger = logging.getLogger(__name__)

# Config keys that cannot change a record (speed, durability, transport), ignored by the check.
OPERATIONAL_KEYS = frozenset({
    "fsync",
    "engine.timeout_s", "engine.connect_timeout_s", "engine.retries", "engine.retry_backoff_s",
    "engine.n_threads", "engine.max_batch_size", "engine.api_key_env", "engine.launch", "engine.launch_python",
    "engine.servers", "engine.prefix_cache_tokens",
    "tools.retrieval_timeout_s", "tools.fetch_timeout_s", "tools.cache_items", "tools.cache_dir",
    "tools.serper_key_env", "tools.reader_key_env", "tools.user_agent",
})
RUN_FILES = ("run.json", "results.jsonl", "config.yaml", "summary.json", "summary.md")


def record_settings(config: Any) -> dict[str, Any]:
    """The dotted config keys that can change a record, with their values."""
    return {k: v for k, v in sorted(dotted(to_dict(config)).items()) if k not in OPERATIONAL_KEYS}


def save_config_redacted(config: Any, path: Path) -> None:
    """Save the resolved config as YAML (what `save_config` writes), credentials in URLs redacted
    (`engine.servers`, `tools.reader_base_url`, ... may hold them)."""
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(redact(to_dict(config)), sort_keys=False))


def _differences(previous: dict[str, Any], identity: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(keys whose values differ, keys the previous run did not record), dotted."""
    old, new = dotted(previous), dotted(identity)
    differ = [f"{k}: {old[k]!r} -> {new[k]!r}" for k in new if k in old and old[k] != new[k]]
    differ += [f"{k}: {old[k]!r} -> (no longer set)" for k in old if k not in new]
    return differ, [k for k in new if k not in old]


def _move_aside(out: Path) -> Path | None:
    """Move the previous run's files into `out/replaced-<UTC time>/` (nothing is deleted)."""
    present = [out / name for name in RUN_FILES if (out / name).exists()]
    if not present:
        return None
    dest = out / time.strftime("replaced-%Y%m%dT%H%M%SZ", time.gmtime())
    dest.mkdir()
    for path in present:
        shutil.move(str(path), dest / path.name)
    return dest


def prepare_run_folder(out: Path, identity: dict[str, Any], force_new: bool = False) -> None:
    """Make `out` ready for the run `identity` describes: new, or resumable, or (`force_new`) cleared.

    Raises UserError naming each differing setting when `out` holds another run's results."""
    identity = redact(identity)  # run.json is written: no credential of a URL may reach it
    run_file = out / "run.json"
    if run_file.is_file():
        if force_new:
            dest = _move_aside(out)
            logger.warning("--force-new: the previous run's files moved to %s", dest)
        else:
            differ, unrecorded = _differences(json.loads(run_file.read_text()), identity)
            if differ:
                raise UserError(
                    f"{run_file}: this folder holds results made with other settings; resuming would mix them. "
                    f"Differences: {'; '.join(differ)}. Use --force-new to start anew (the old files are moved "
                    f"into a replaced-* subfolder), or another --out.")
            if unrecorded:
                logger.warning("%s: the run that made this folder did not record %s; resuming unchecked on those",
                               run_file, ", ".join(unrecorded))
    elif force_new:
        _move_aside(out)  # results without a run.json: from an interrupted start; start clean
    out.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(identity, indent=2, ensure_ascii=False))
