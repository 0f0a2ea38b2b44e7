"""ASearcher's server discovery through address files, written by `asearcher serve` and read by our client.

ASearcher's retrieval servers announce themselves by writing `Host{ip}_IP{port}.txt` into a shared
folder (`$RAG_SERVER_ADDR_DIR` on their side); the file holds `ip:port` and nothing else. Their
clients read every `Host*_IP*.txt` in the folder, one address per line, pick one at random and
switch to another on errors. We write and read the same files, so either side can be ours.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

from asearcher.errors import UserError

logger = logging.getLogger(__name__)

ADDRESS_GLOB = "Host*_IP*.txt"


def advertised_host(bind_host: str) -> str:
    """The address other machines should use to reach a server bound to `bind_host`.

    A wildcard bind (0.0.0.0, ::, "") is advertised as this machine's IP, as ASearcher's servers do
    (the address of the host name); a specific interface is advertised as itself.
    """
    if bind_host in ("", "0.0.0.0", "::"):
        try:
            return socket.gethostbyname(socket.gethostname())
        except OSError:
            return "127.0.0.1"
    return bind_host


def write_address_file(folder: Path, host: str, port: int) -> Path:
    """Write `Host{host}_IP{port}.txt` holding `host:port` into `folder` (created if missing)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"Host{host}_IP{port}.txt"
        # Written to a temporary name and renamed: a client never reads a half-written address.
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(f"{host}:{port}")
        tmp.replace(path)
    except OSError as e:
        raise UserError(f"--save-address-to {folder}: cannot write the address file ({e})") from None
    logger.info("address file %s -> %s:%d", path, host, port)
    return path


def remove_address_file(path: Path) -> None:
    """Remove an address file written by this server (missing is fine: someone cleaned up)."""
    try:
        Path(path).unlink()
    except FileNotFoundError:
        pass
    except OSError as e:
        logger.warning("could not remove the address file %s: %s", path, e)


def read_addresses(folder: Path) -> list[str]:
    """Base URLs (`http://ip:port`) of every address in the folder's `Host*_IP*.txt` files, sorted.

    Files that vanish or cannot be read while we look are skipped (servers come and go); blank
    lines are ignored; an address already holding a scheme is kept as it is.
    """
    urls: set[str] = set()
    for path in sorted(Path(folder).glob(ADDRESS_GLOB)):
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            addr = line.strip()
            if addr:
                urls.add(addr.rstrip("/") if "://" in addr else f"http://{addr}")
    return sorted(urls)
