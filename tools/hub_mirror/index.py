"""The hashes of a mirrored repo's files, computed once and kept in a sidecar file in the repo folder.

A file's hash is the one the hub reports for it: the git blob sha1 for small files, the sha256 (the LFS
oid) from LARGE_FILE_BYTES up. The sidecar keys each file by path with its size and mtime, so a changed
file is hashed again and an unchanged one never is; the repo's commit sha is derived from all of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from common.artifacts import atomic_write_json

logger = logging.getLogger("tools.hub_mirror")

INDEX_NAME = ".mirror-index.json"
INDEX_FORMAT = 1
LARGE_FILE_BYTES = 10 * 1024 * 1024  # the hub keeps no plain git file past 10 MiB: from here on it is LFS
CHUNK_BYTES = 4 * 1024 * 1024
# git's own objects, and the bookkeeping `snapshot_download(local_dir=...)` leaves in a folder filled by it
SKIPPED_DIRS = {".git", ".cache/huggingface"}

# called when a file starts being hashed, with its name and size; returns what to call per chunk read
HashProgress = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True)
class MirrorFile:
    path: str  # relative to the repo folder, with forward slashes
    size: int
    mtime_ns: int
    content_hash: str  # git blob sha1 (small file) or sha256 (large file)

    def is_current(self, stat: os.stat_result) -> bool:
        return (self.size, self.mtime_ns) == (stat.st_size, stat.st_mtime_ns)

    @property
    def is_large(self) -> bool:
        return self.size >= LARGE_FILE_BYTES

    @property
    def lfs_pointer(self) -> bytes:
        return (f"version https://git-lfs.github.com/spec/v1\n"
                f"oid sha256:{self.content_hash}\nsize {self.size}\n").encode()

    @property
    def blob_id(self) -> str:
        """The git oid the hub lists: of the content, or for an LFS file of its pointer file."""
        if not self.is_large:
            return self.content_hash
        pointer = self.lfs_pointer
        return hashlib.sha1(b"blob %d\0" % len(pointer) + pointer).hexdigest()


@dataclass(frozen=True)
class RepoSnapshot:
    """A repo's files at one moment, and the commit sha that names exactly that content."""

    files: dict[str, MirrorFile]
    folder_mtime: float

    @cached_property
    def commit(self) -> str:
        digest = hashlib.sha1()
        for path in sorted(self.files):
            file = self.files[path]
            digest.update(f"{path}\0{file.size}\0{file.content_hash}\n".encode())
        return digest.hexdigest()

    @cached_property
    def directories(self) -> dict[str, str]:
        """Every folder that holds a file (at any depth), with a git-style tree oid over its content."""
        digests: dict[str, Any] = {}
        for path in sorted(self.files):
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                folder = "/".join(parts[:depth])
                digest = digests.setdefault(folder, hashlib.sha1(f"tree {folder}\0".encode()))
                digest.update(f"{path}\0{self.files[path].content_hash}\n".encode())
        return {folder: digest.hexdigest() for folder, digest in digests.items()}

    @property
    def last_modified(self) -> float:
        return max((file.mtime_ns / 1e9 for file in self.files.values()), default=self.folder_mtime)

    @property
    def created(self) -> float:
        return min((file.mtime_ns / 1e9 for file in self.files.values()), default=self.folder_mtime)

    @property
    def total_size(self) -> int:
        return sum(file.size for file in self.files.values())


def hash_file(path: Path, size: int, advance: Callable[[int], None] | None = None) -> str:
    """Stream the file once through the hash the hub uses for a file of that size."""
    if size >= LARGE_FILE_BYTES:
        digest = hashlib.sha256()
    else:
        digest = hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            if advance is not None:
                advance(len(chunk))
    return digest.hexdigest()


def _is_index_file(path: str) -> bool:
    return path == INDEX_NAME or path.startswith(f".{INDEX_NAME}.tmp-")  # atomic_write_json's temporary


def _join(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}"


def repo_file_stats(folder: Path) -> dict[str, os.stat_result]:
    """The repo's files by relative path; symlinked files (a hub cache snapshot) count as files."""
    found: dict[str, os.stat_result] = {}
    for directory, subdirs, names in os.walk(folder):
        here = Path(directory).relative_to(folder).as_posix()
        subdirs[:] = [name for name in subdirs if _join(here, name) not in SKIPPED_DIRS]  # so not walked
        for name in names:
            path = _join(here, name)
            if _is_index_file(path):
                continue
            try:
                found[path] = os.stat(os.path.join(directory, name))
            except OSError:  # a dangling symlink is not a file
                continue
    return found


class RepoIndex:
    """The hashes of one repo folder, held in memory and in the sidecar; `snapshot()` re-checks every file's
    size and mtime, hashes only what is new or changed, and rewrites the sidecar only when something was."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sidecar = folder / INDEX_NAME
        self.label = f"{folder.parent.name}/{folder.name}"  # the repo id, for logs and progress bars
        self._known: dict[str, MirrorFile] | None = None
        self._lock = threading.Lock()  # two requests for one repo must not hash the same big file twice
        self._warned_read_only = False

    def snapshot(self, progress: HashProgress | None = None) -> RepoSnapshot:
        with self._lock:
            known = self._known if self._known is not None else self._read_sidecar()
            current: dict[str, MirrorFile] = {}
            for path, stat in sorted(repo_file_stats(self.folder).items()):
                previous = known.get(path)
                if previous is not None and previous.is_current(stat):
                    current[path] = previous
                    continue
                logger.info("hashing %s/%s (%d bytes)", self.label, path, stat.st_size)
                advance = progress(f"{self.label}/{path}", stat.st_size) if progress is not None else None
                content_hash = hash_file(self.folder / path, stat.st_size, advance)
                current[path] = MirrorFile(path, stat.st_size, stat.st_mtime_ns, content_hash)
            if current != known:
                self._write_sidecar(current)
            self._known = current
            return RepoSnapshot(files=current, folder_mtime=self.folder.stat().st_mtime)

    def _read_sidecar(self) -> dict[str, MirrorFile]:
        try:
            data = json.loads(self.sidecar.read_text(encoding="utf-8"))
            if data.get("format") != INDEX_FORMAT:
                return {}
            files = {path: MirrorFile(path, entry["size"], entry["mtime_ns"], entry["hash"])
                     for path, entry in data["files"].items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            logger.warning("ignoring unreadable index %s; hashing the repo again", self.sidecar)
            return {}
        # an entry written under another large-file threshold (another version of this module) is not reusable
        return {path: file for path, file in files.items()
                if len(file.content_hash) == (64 if file.is_large else 40)}

    def _write_sidecar(self, files: dict[str, MirrorFile]) -> None:
        entries = {path: {"size": file.size, "mtime_ns": file.mtime_ns, "hash": file.content_hash}
                   for path, file in files.items()}
        try:
            atomic_write_json(self.sidecar, {"format": INDEX_FORMAT, "files": entries})
        except OSError as exc:  # a read-only mirror still serves, it just hashes again after each restart
            if not self._warned_read_only:
                logger.warning("cannot write %s (%s); hashes are kept in memory only",
                               self.sidecar, exc.strerror)
                self._warned_read_only = True
