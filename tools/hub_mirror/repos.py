"""Where a mirror root keeps its repos: `<root>/models/<org>/<name>/` and `<root>/datasets/<org>/<name>/`,
plain folders of files, plus what the hub derives from a repo's README (the card's YAML front matter)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.errors import UserError
from tools.hub_mirror.index import HashProgress, RepoIndex, RepoSnapshot

REPO_KINDS = ("models", "datasets")  # as in the hub's API paths, and as the root's folder names
# the hub's rule for an org or repo name; it also keeps `..` and hidden folders out of a lookup
NAME_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?")
# the same front matter huggingface_hub's repocard reads
CARD_YAML = re.compile(r"^(\s*---[\r\n]+)([\S\s]*?)([\r\n]+---(\r\n|\n|$))")


@dataclass(frozen=True)
class MirrorRepo:
    kind: str  # "models" or "datasets"
    org: str
    name: str
    folder: Path

    @property
    def repo_id(self) -> str:
        return f"{self.org}/{self.name}"


def require_root(root: str | Path) -> Path:
    path = Path(root).expanduser()
    if not path.is_dir():
        raise UserError(f"mirror root not found: {root} (expected a folder with models/<org>/<name>/ "
                        f"and datasets/<org>/<name>/ inside)")
    return path.resolve()


def find_repo(root: Path, kind: str, org: str, name: str) -> MirrorRepo | None:
    if kind not in REPO_KINDS or not (NAME_PATTERN.fullmatch(org) and NAME_PATTERN.fullmatch(name)):
        return None
    folder = root / kind / org / name
    return MirrorRepo(kind, org, name, folder) if folder.is_dir() else None


def list_repos(root: Path) -> list[MirrorRepo]:
    repos = []
    for kind in REPO_KINDS:
        for org_folder in sorted((root / kind).glob("*")):
            for repo_folder in sorted(org_folder.glob("*")):
                repo = find_repo(root, kind, org_folder.name, repo_folder.name)
                if repo is not None:
                    repos.append(repo)
    return repos


class RootIndex:
    """One RepoIndex per repo of a root, kept as long as a server runs: what was hashed before serving
    is what requests use, even where the sidecar files cannot be written (a read-only mirror)."""

    def __init__(self, root: str | Path) -> None:
        self.root = require_root(root)
        self._indexes: dict[Path, RepoIndex] = {}
        self._lock = threading.Lock()

    def of(self, repo: MirrorRepo) -> RepoIndex:
        with self._lock:
            return self._indexes.setdefault(repo.folder, RepoIndex(repo.folder))

    def build(self, progress: HashProgress | None = None) -> list[tuple[MirrorRepo, RepoSnapshot]]:
        """Hash every repo now (only what changed since the last time), so that no request has to wait
        for it: a client gives up on a HEAD after 10 s (HF_HUB_ETAG_TIMEOUT)."""
        return [(repo, self.of(repo).snapshot(progress)) for repo in list_repos(self.root)]


def build_root_index(root: str | Path,
                     progress: HashProgress | None = None) -> list[tuple[MirrorRepo, RepoSnapshot]]:
    """Bring the root's sidecar indexes up to date ahead of serving (`python -m tools.hub_mirror index`)."""
    return RootIndex(root).build(progress)


def card_data(folder: Path) -> dict[str, Any]:
    """The README's YAML front matter, which the hub returns as `cardData`; {} when there is none."""
    readme = folder / "README.md"
    if not readme.is_file():
        return {}
    match = CARD_YAML.match(readme.read_text(encoding="utf-8", errors="replace"))
    if match is None:
        return {}
    try:
        data = yaml.safe_load(match.group(2))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}
