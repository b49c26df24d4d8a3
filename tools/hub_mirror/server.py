"""A Hugging Face hub over plain folders (layout in repos.py): the routes and headers that huggingface_hub,
transformers and datasets use to find and download a repo's files (repo info, tree, paths-info, refs,
resolve). Each repo has one revision, `main`, whose commit sha is derived from its files' content.

Starlette + uvicorn rather than the stdlib: starlette's FileResponse streams a file with Range (206)
support, and the event loop keeps answering while a worker thread hashes a new or changed file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_to_bytes

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from tools.hub_mirror.index import MirrorFile, RepoSnapshot
from tools.hub_mirror.repos import REPO_KINDS, MirrorRepo, RootIndex, card_data, find_repo

logger = logging.getLogger("tools.hub_mirror")

MAIN = "main"
TRUE = ("1", "true", "yes")


class HubError(Exception):
    """An answer the hub gives as an error: huggingface_hub maps X-Error-Code to its exception types."""

    def __init__(self, code: str, message: str, commit: str | None = None, status: int = 404) -> None:
        super().__init__(message)
        self.code, self.message, self.commit, self.status = code, message, commit, status

    def response(self) -> Response:
        headers = {"X-Error-Code": self.code}
        # a header value cannot carry just any text (it is latin-1, one line); the JSON body can
        if self.message.isascii() and self.message.isprintable():
            headers["X-Error-Message"] = self.message
        if self.commit is not None:  # lets the client cache "this file does not exist at this commit"
            headers["X-Repo-Commit"] = self.commit
        return json_response({"error": self.message}, self.status, headers)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # default=str: a card's YAML may hold dates
    return Response(json.dumps(data, default=str), status, headers, media_type="application/json")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _path_segments(scope: Scope) -> list[str]:
    """The URL path split on '/' before unquoting: clients quote a revision or tree path (`refs%2Fpr%2F1`,
    `sub%2Fdir`) so that its slashes do not split it."""
    raw = scope.get("raw_path") or scope["path"].encode()
    parts = raw.split(b"?", 1)[0].split(b"/")[1:]
    return [unquote_to_bytes(part).decode("utf-8", "replace") for part in parts]


def _flag(values: Mapping[str, Any], name: str) -> bool:
    """A query or form flag: clients send booleans as `true` or `1`; a repeated form field is a list."""
    value = values.get(name)
    if isinstance(value, list):
        value = value[-1] if value else None
    return str(value).lower() in TRUE


def _sibling(file: MirrorFile, with_blobs: bool) -> dict[str, Any]:
    if not with_blobs:  # as the hub: sizes and hashes only when asked for (files_metadata=True)
        return {"rfilename": file.path}
    entry: dict[str, Any] = {"rfilename": file.path, "size": file.size, "blobId": file.blob_id}
    if file.is_large:
        entry["lfs"] = {"sha256": file.content_hash, "size": file.size, "pointerSize": len(file.lfs_pointer)}
    return entry


def _file_entry(file: MirrorFile, last_commit: dict | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "file", "oid": file.blob_id, "size": file.size, "path": file.path}
    if file.is_large:
        entry["lfs"] = {"oid": file.content_hash, "size": file.size, "pointerSize": len(file.lfs_pointer)}
    if last_commit is not None:
        entry["lastCommit"] = last_commit
    return entry


def _folder_entry(path: str, oid: str, last_commit: dict | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "directory", "oid": oid, "size": 0, "path": path}
    if last_commit is not None:
        entry["lastCommit"] = last_commit
    return entry


def _last_commit(snapshot: RepoSnapshot, expand: bool) -> dict | None:
    """What `expand=true` adds to a tree entry; without it HfFileSystem asks again for every folder."""
    if not expand:
        return None
    return {"id": snapshot.commit, "title": "hub mirror snapshot", "date": _iso(snapshot.last_modified)}


async def _form(request: Request) -> dict[str, Any]:
    """paths-info's body: a form (what huggingface_hub sends) or JSON; parsed here because starlette's form
    parser needs python-multipart."""
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise HubError("BadRequest", "paths-info: the body is not valid JSON", status=400) from None
        return data if isinstance(data, dict) else {}
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


class RepoFileResponse(FileResponse):
    # each chunk is one hop to a worker thread; starlette's 64 KiB chunks make that hop, not the disk,
    # the limit on a multi-GB shard
    chunk_size = 1 << 20


class HubMirrorApp:
    """The ASGI app. Routing matches the raw path's segments (see `_path_segments`)."""

    def __init__(self, root: str | Path) -> None:
        self.index = RootIndex(root)
        self.root = self.index.root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # uvicorn runs without lifespan; nothing here speaks websocket
            return
        request = Request(scope, receive)
        try:
            response = await self.route(request)
        except HubError as error:
            response = error.response()
        query = f"?{request.url.query}" if request.url.query else ""
        logger.info("%s %s%s -> %d%s", request.method, request.url.path, query, response.status_code,
                    f" ({request.headers['range']})" if "range" in request.headers else "")
        await response(scope, receive, send)

    async def route(self, request: Request) -> Response:
        read, post = request.method in ("GET", "HEAD"), request.method == "POST"
        match _path_segments(request.scope):
            case ["api", kind, org, name] if read and kind in REPO_KINDS:
                return await self.repo_info(request, kind, org, name, MAIN)
            case ["api", kind, org, name, "revision", *revision] if read and kind in REPO_KINDS and revision:
                return await self.repo_info(request, kind, org, name, "/".join(revision))
            case ["api", kind, org, name, "tree", revision, *folder] if read and kind in REPO_KINDS:
                return await self.tree(request, kind, org, name, revision, "/".join(folder).strip("/"))
            case ["api", kind, org, name, "paths-info", revision] if post and kind in REPO_KINDS:
                return await self.paths_info(request, kind, org, name, revision)
            case ["api", kind, org, name, "refs"] if read and kind in REPO_KINDS:
                return await self.refs(request, kind, org, name)
            case ["datasets", org, name, "resolve", revision, *path] if read and path:
                return await self.resolve("datasets", org, name, revision, "/".join(path))
            case [org, name, "resolve", revision, *path] if read and path:
                return await self.resolve("models", org, name, revision, "/".join(path))
        message = f"not served by this hub mirror: {request.method} {request.url.path}"
        return json_response({"error": message}, 404)

    async def snapshot(self, kind: str, org: str, name: str,
                       revision: str) -> tuple[MirrorRepo, RepoSnapshot]:
        repo = find_repo(self.root, kind, org, name)
        if repo is None:
            raise HubError("RepoNotFound", f"{kind[:-1]} repository {org}/{name} is not in this mirror")
        # in a worker thread: a new or changed file is hashed here, and the server keeps answering meanwhile
        snapshot = await anyio.to_thread.run_sync(self.index.of(repo).snapshot)
        if revision not in (MAIN, snapshot.commit):
            raise HubError("RevisionNotFound", f"revision {revision} is not in {repo.repo_id}; "
                                               f"this mirror has only main, at {snapshot.commit}")
        return repo, snapshot

    async def repo_info(self, request: Request, kind: str, org: str, name: str, revision: str) -> Response:
        repo, snapshot = await self.snapshot(kind, org, name, revision)
        with_blobs = _flag(request.query_params, "blobs")
        return json_response({
            "id": repo.repo_id, "author": repo.org, "sha": snapshot.commit,
            "lastModified": _iso(snapshot.last_modified), "createdAt": _iso(snapshot.created),
            "private": False, "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
            "cardData": await anyio.to_thread.run_sync(card_data, repo.folder),
            "siblings": [_sibling(file, with_blobs) for file in snapshot.files.values()],
            "usedStorage": snapshot.total_size,
        })

    async def tree(self, request: Request, kind: str, org: str, name: str, revision: str,
                   folder: str) -> Response:
        repo, snapshot = await self.snapshot(kind, org, name, revision)
        if folder and folder not in snapshot.directories:
            raise HubError("EntryNotFound", f"{folder} is not a folder in {repo.repo_id}", snapshot.commit)
        recursive = _flag(request.query_params, "recursive")
        last_commit = _last_commit(snapshot, _flag(request.query_params, "expand"))
        prefix = f"{folder}/" if folder else ""

        def listed(path: str) -> bool:
            return path.startswith(prefix) and (recursive or "/" not in path[len(prefix):])

        entries = [_folder_entry(path, oid, last_commit) for path, oid in sorted(snapshot.directories.items())
                   if listed(path)]
        entries += [_file_entry(file, last_commit) for path, file in snapshot.files.items() if listed(path)]
        return json_response(entries)

    async def paths_info(self, request: Request, kind: str, org: str, name: str, revision: str) -> Response:
        repo, snapshot = await self.snapshot(kind, org, name, revision)
        form = await _form(request)
        paths = form.get("paths", [])
        last_commit = _last_commit(snapshot, _flag(form, "expand"))
        entries = []
        for path in dict.fromkeys(str(p).strip("/") for p in (paths if isinstance(paths, list) else [paths])):
            if path in snapshot.files:
                entries.append(_file_entry(snapshot.files[path], last_commit))
            elif path in snapshot.directories:
                entries.append(_folder_entry(path, snapshot.directories[path], last_commit))
        return json_response(entries)  # as the hub: paths that do not exist are left out

    async def refs(self, request: Request, kind: str, org: str, name: str) -> Response:
        _, snapshot = await self.snapshot(kind, org, name, MAIN)
        main = {"name": MAIN, "ref": f"refs/heads/{MAIN}", "targetCommit": snapshot.commit}
        body: dict[str, Any] = {"branches": [main], "tags": [], "converts": []}
        if _flag(request.query_params, "include_prs"):
            body["pullRequests"] = []
        return json_response(body)

    async def resolve(self, kind: str, org: str, name: str, revision: str, path: str) -> Response:
        repo, snapshot = await self.snapshot(kind, org, name, revision)
        file = snapshot.files.get(path)  # only indexed paths are served, so no path leaves the repo folder
        if file is None:
            message = f"{path} is not in {repo.repo_id} at {snapshot.commit}"
            raise HubError("EntryNotFound", message, snapshot.commit)
        etag = f'"{file.content_hash}"'  # the client names its cached blob after it
        headers = {"X-Repo-Commit": snapshot.commit, "ETag": etag}
        if file.is_large:  # the hub sends these for LFS files; the client prefers them to ETag/Content-Length
            headers.update({"X-Linked-Etag": etag, "X-Linked-Size": str(file.size)})
        return RepoFileResponse(repo.folder / path, headers=headers)
