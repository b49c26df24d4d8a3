"""Load a table of rows from a hub data set, a local file or a folder, with columns renamed to
the names the pipeline uses. Errors a user can make (missing file, missing column, a data set
that is not available offline) are UserErrors that name the source and the column."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from common.errors import UserError

FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


def _looks_local(source: str) -> bool:
    return source.startswith((".", "/", "~")) or Path(source).suffix.lower() in FILE_BUILDERS or Path(source).exists()


def require_local_files(*sources) -> None:
    """Stop on a local data file that is not there before anything slow (a library import, a
    tokenizer) runs: the same error load_table would give, seconds sooner."""
    for source in sources:
        if source is not None and source.source and _looks_local(source.source):
            _require_present(Path(source.source).expanduser())


def _require_present(path: Path) -> None:
    if not path.exists():
        raise UserError(f"data file not found: {path}")


def _read_lines(path: Path):
    """A JSON or JSON Lines file that datasets cannot read whole (a line that is not JSON), one
    record's text per row, so that the bad records are counted rather than fatal."""
    import datasets

    from common.conversations import RAW_JSON

    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        whole = json.loads(text)
    except ValueError:
        lines = [line for line in text.splitlines() if line.strip()]
    else:
        lines = [json.dumps(record, ensure_ascii=False) for record in whole] if isinstance(whole, list) else [text]
    return datasets.Dataset.from_dict({RAW_JSON: lines})


def _load_local(path: Path, split: str, tolerant: bool = False):
    import datasets

    _require_present(path)
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "state.json").is_file():
            loaded = datasets.load_from_disk(str(path))
            return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in FILE_BUILDERS)
        if not files:
            raise UserError(f"data folder {path} holds no .json/.jsonl/.csv/.parquet file")
        kinds = {FILE_BUILDERS[p.suffix.lower()] for p in files}
        if len(kinds) > 1:
            raise UserError(f"data folder {path} mixes file types ({', '.join(sorted(kinds))})")
        return datasets.load_dataset(kinds.pop(), data_files=[str(p) for p in files], split="train")
    builder = FILE_BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise UserError(f"unsupported data file type {path.suffix!r} for {path} (json, jsonl, csv, parquet)")
    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    except (datasets.exceptions.DatasetGenerationError, ValueError) as exc:  # ValueError: a line that is not JSON
        if tolerant and builder == "json":
            return _read_lines(path)
        cause = exc.__cause__ or exc
        raise UserError(f"could not read {path}: {str(cause).splitlines()[0]}") from None


def _load_hub(source: str, subset: str | None, revision: str | None, split: str):
    import datasets

    try:
        return datasets.load_dataset(source, subset, revision=revision, split=split)
    except FileNotFoundError:
        raise UserError(f"data set {source!r} not found (not on the hub or not a local path)") from None
    except ConnectionError:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = "it is not in the local cache and HF_HUB_OFFLINE=1" if offline else "the hub is unreachable"
        raise UserError(f"data set {source!r} cannot be loaded: {hint}") from None
    except ValueError as exc:
        raise UserError(f"data set {source!r}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # the hub client raises many types for "no network"
        name = type(exc).__name__
        if any(word in name for word in ("Connection", "Offline", "Http", "Timeout", "LocalEntryNotFound")):
            raise UserError(f"data set {source!r} cannot be loaded offline or the hub is unreachable ({name})") from None
        raise


def load_table(
    source: str,
    columns: Mapping[str, str | None],
    subset: str | None = None,
    revision: str | None = None,
    split: str = "train",
    max_rows: int | None = None,
    hub_layout: bool = False,
):
    """A datasets.Dataset with exactly the columns named by the keys of `columns`.

    `columns` maps the pipeline's name to the source's column name; a None source column is
    filled with empty strings (e.g. replay data without a reasoning field). With `hub_layout` a
    local folder is read as a hub repository: its README's configs choose the files of `subset`
    and `split`.
    """
    if _looks_local(source) and not hub_layout:
        table = _load_local(Path(source).expanduser(), split)
    else:
        table = _load_hub(source, subset, revision, split)
    present = set(table.column_names)
    for ours, theirs in columns.items():
        if theirs is not None and theirs not in present:
            listed = ", ".join(sorted(present)) or "none"
            raise UserError(
                f"{source}: no column {theirs!r} (for {ours}); its columns are: {listed}. "
                f"Map it in the config's columns section"
            )
    if max_rows is not None and len(table) > max_rows:
        table = table.select(range(max_rows))
    keep = {theirs: ours for ours, theirs in columns.items() if theirs is not None}
    table = table.select_columns(list(keep)).rename_columns({k: v for k, v in keep.items() if k != v})
    for ours, theirs in columns.items():
        if theirs is None:
            table = table.add_column(ours, [""] * len(table))
    return table


def source_fingerprint(source: str, revision: str | None) -> str:
    """What identifies the data in a manifest: a file's sha256, or the hub id and revision."""
    from common.artifacts import sha256_file, sha256_tree

    path = Path(source).expanduser()
    if path.is_file():
        return f"sha256:{sha256_file(path)}"
    if path.is_dir():
        return f"sha256-tree:{sha256_tree(path)}"
    return f"hub:{source}@{revision or 'default'}"


def validation_split(table, fraction: float, max_rows: int, seed: int):
    """(train, validation) carved from one table by a fixed seed, the same in train/ and eval/."""
    size = min(max_rows, max(1, round(len(table) * fraction)))
    if size >= len(table):  # too few rows to hold any out
        return table, table.select([])
    split = table.train_test_split(test_size=size, seed=seed, shuffle=True)
    return split["train"], split["test"]


def load_records(source) -> object:
    """A config DataSource's records with all their fields, whatever its format (common/
    conversations.py reads them), with the row-count guard. A local JSON file with lines that are
    not JSON is read line by line, so those lines are counted as bad records."""
    if _looks_local(source.source):
        table = _load_local(Path(source.source).expanduser(), source.split, tolerant=True)
    else:
        table = _load_hub(source.source, source.subset, source.revision, source.split)
    if source.max_rows is not None and len(table) > source.max_rows:
        table = table.select(range(source.max_rows))
    _check_row_count(source, table)
    return table


def _check_row_count(source, table) -> None:
    if source.expected_rows is not None and source.max_rows is None and len(table) != source.expected_rows:
        raise UserError(
            f"{source.source}: {len(table)} rows, but the config expects {source.expected_rows} "
            f"(revision {source.revision or 'default'}); pin data.revision or update data.expected_rows"
        )
