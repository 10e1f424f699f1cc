"""The log store: where workers write and the coordinator reads, reached by every worker.

A folder on a shared filesystem, or any fsspec URL (`s3://bucket/prefix`, with `s3fs`
installed: Inspect itself writes its logs there). Workers write only into the store: each
unit's Inspect logs, each finished sample's outcome (for distributed sequential stopping) and
nothing else; the coordinator writes only the stop markers. The coordinator grades logs only
after copying them to its own disk (`local_copy`), so every check that reads a log (its cache
key, its status, its samples) runs on the same bytes it then merges.

Endpoints and credentials for an object store come from the environment, as for Inspect
(`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ..., or fsspec's `FSSPEC_S3_*` variables).
"""

from __future__ import annotations

import posixpath
import uuid
from pathlib import Path
from typing import Any

from scalegate.errors import InputError


def is_url(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


#: The environment an object store's client reads (endpoint, region, keys, fsspec defaults).
STORE_ENV_PREFIXES = ("AWS_", "FSSPEC_", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_STORAGE_")


def store_env(location: str, environ: dict[str, str]) -> dict[str, str]:
    """What a remote worker needs from this environment to reach an object store (a Ray
    worker's environment is its node's, not the coordinator's); nothing for a folder."""
    if not is_url(location):
        return {}
    return {k: v for k, v in environ.items() if k.startswith(STORE_ENV_PREFIXES)}


class Store:
    """One log store: `location` a folder or an fsspec URL."""

    def __init__(self, location: str) -> None:
        self.location = location.rstrip("/") if is_url(location) else str(Path(location))
        self.remote = is_url(location)
        self._fs: Any = None

    @property
    def fs(self) -> Any:
        if self._fs is None:
            import fsspec

            try:
                self._fs = fsspec.core.url_to_fs(self.location)[0]
            except (ImportError, ValueError) as exc:
                hint = " (pip install 'scalegate[s3]')" if self.location.startswith("s3://") else ""
                raise InputError(f"--store {self.location}: cannot be opened{hint}: {exc}") from exc
        return self._fs

    def check(self) -> None:
        """Write, read back and remove a probe, so a store no worker could use is named before
        any unit runs (a typo in a bucket, missing keys, a read-only folder)."""
        probe = f".scalegate-probe-{uuid.uuid4().hex}"
        try:
            self.write(probe, b"probe")
            back = self.read(probe)
            if self.remote:
                self.fs.rm_file(self.url(probe))
            else:
                Path(self.url(probe)).unlink()
        except InputError:
            raise
        except Exception as exc:
            hint = (
                " (check the endpoint and keys: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)"
                if self.remote
                else ""
            )
            raise InputError(
                f"--store {self.location}: workers could not write there ({type(exc).__name__}: {exc}){hint}"
            ) from exc
        if back != b"probe":
            raise InputError(f"--store {self.location}: what was written could not be read back")

    def url(self, *parts: str) -> str:
        """A path under the store, as Inspect and fsspec take it (a URL stays a URL)."""
        if self.remote:
            return posixpath.join(self.location, *parts)
        return str(Path(self.location, *parts))

    def write(self, rel: str, data: bytes) -> None:
        """Write one object whole (a local file through a rename, so no reader sees half)."""
        if self.remote:
            self.fs.pipe_file(self.url(rel), data)
            return
        path = Path(self.url(rel))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def read(self, rel: str) -> bytes | None:
        try:
            return bytes(self.fs.cat_file(self.url(rel)))
        except FileNotFoundError:
            return None

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self.url(rel)))

    def names(self, rel: str) -> list[str]:
        """The names of the objects directly under `rel` (none when it does not exist)."""
        try:
            found = self.fs.ls(self.url(rel), detail=False, refresh=True) if self.remote else None
        except FileNotFoundError:
            return []
        if found is None:
            folder = Path(self.url(rel))
            return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        return sorted(posixpath.basename(str(f).rstrip("/")) for f in found)

    def local_copy(self, rel: str, scratch: Path) -> Path:
        """A local folder holding the Inspect logs under `rel`: the folder itself for a local
        store, a fresh copy under `scratch` for an object store."""
        if not self.remote:
            return Path(self.url(rel))
        dest = scratch / rel
        dest.mkdir(parents=True, exist_ok=True)
        for name in self.names(rel):
            if name.endswith(".eval"):
                self.fs.get_file(self.url(rel, name), str(dest / name))
        return dest
