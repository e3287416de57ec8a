"""``torch.hub``: pretrained weights by URL, cached on disk (``load_state_dict_from_url``).

``load_state_dict_from_url(url)`` downloads ``url`` once into ``<hub dir>/checkpoints/`` (the
hub dir is PyTorch's: ``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``, else
``~/.cache/torch/hub``, so files PyTorch downloaded are found again) and loads it with
:func:`chainrule.load`: a ``torch.save`` checkpoint is read as PyTorch's ``weights_only=True``
reads it, never running code from it, whatever ``weights_only`` says.  ``check_hash=True``
checks the file's SHA-256 against the hex prefix in its name (``resnet18-f37072fd.pth``), as
PyTorch does.  A download goes to a temporary file beside the target and is renamed into place
only when complete (and its hash checked), so an interrupted one leaves no partial file.

``torch.hub.load``, ``list`` and ``help`` run a repository's ``hubconf.py``, code from the
network: they raise NotImplementedError saying so.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["download_url_to_file", "get_dir", "help", "list", "load", "load_state_dict_from_url", "set_dir"]

HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
_CHUNK = 1 << 16
_hub_dir: str | None = None


def get_dir() -> str:
    """The hub's cache directory (see the module docstring; :func:`set_dir` overrides it)."""
    if _hub_dir is not None:
        return _hub_dir
    torch_home = os.environ.get("TORCH_HOME")
    if torch_home is None:
        cache = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
        torch_home = os.path.join(cache, "torch")
    return os.path.join(os.path.expanduser(torch_home), "hub")


def set_dir(d: str | os.PathLike) -> None:
    """Use ``d`` as the hub's cache directory from now on."""
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))


def download_url_to_file(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
    """Download ``url`` to the file ``dst``: into a temporary file beside it, renamed into place
    when complete; with ``hash_prefix``, the SHA-256 of the bytes must start with it (else
    RuntimeError, and nothing is left behind).  ``progress``: a tqdm bar on stderr."""
    dst = os.path.expanduser(dst)
    folder = os.path.dirname(os.path.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "chainrule.hub"})
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(dst) + ".", suffix=".partial", dir=folder)
    try:
        sha256 = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request) as response:  # noqa: S310  (the caller's URL)
            length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            total = int(length) if length and length.isdigit() else None
            bar = _bar(total, progress)
            try:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    sha256.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
        if hash_prefix is not None:
            digest = sha256.hexdigest()
            if not digest.startswith(hash_prefix):
                raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "{digest}") for {url}')
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _bar(total: int | None, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, leave=False)


def load_state_dict_from_url(url: str, model_dir: str | None = None, map_location: Any = None, progress: bool = True,
                             check_hash: bool = False, file_name: str | None = None,
                             weights_only: bool = False) -> Any:
    """The object saved at ``url`` (a state dict, usually), downloaded once into ``model_dir``
    (default ``<hub dir>/checkpoints``) as ``file_name`` (default: the URL's last part), then read
    by :func:`chainrule.load` (see the module docstring)."""
    from chainrule.serialization import load

    folder = os.path.join(get_dir(), "checkpoints") if model_dir is None else os.path.expanduser(model_dir)
    os.makedirs(folder, exist_ok=True)
    name = file_name or os.path.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise ValueError(f"load_state_dict_from_url: {url!r} names no file; pass file_name=")
    cached = os.path.join(folder, name)
    if not os.path.exists(cached):
        match = HASH_REGEX.search(name) if check_hash else None
        download_url_to_file(url, cached, match.group(1) if match else None, progress=progress)
    return load(cached, map_location=map_location, weights_only=weights_only)


def _runs_repository_code(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"torch.hub.{what}: it runs a repository's hubconf.py (code from the network), which chainrule does not; "
        "build the model in your program and load its weights with torch.hub.load_state_dict_from_url(url)"
    )


def load(repo_or_dir: str, model: str, *args: Any, **kwargs: Any) -> Any:
    """Refused: see the module docstring."""
    raise _runs_repository_code("load")


def list(github: str, force_reload: bool = False, skip_validation: bool = False, trust_repo: Any = None,  # noqa: A001
         verbose: bool = True) -> Any:
    """Refused: see the module docstring."""
    raise _runs_repository_code("list")


def help(github: str, model: str, force_reload: bool = False, skip_validation: bool = False,  # noqa: A001
         trust_repo: Any = None) -> Any:
    """Refused: see the module docstring."""
    raise _runs_repository_code("help")
