"""The contracts between stages: what each stage's manifest.json promises the next one.

Manifests are written by `common.artifacts.write_manifest` (which checks the body against the
stage's model here) and read back through `read_adapter_manifest` / `read_convert_manifest` /
`read_merge_manifest`, so a reader gets typed fields or one clear line, never a KeyError deep in
a stage. Fields not listed stay in the file (records for people: timings, figures, versions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from common.artifacts import read_manifest
from common.errors import UserError
from common.layout import manifest_path


class Record(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Quantization(Record):
    quant_type: str
    blocksize: int
    double_quant: bool
    compute_dtype: str | None = None


class TrainedAgainst(Record):
    """The weights an adapter was trained on, as loaded: convert merges onto exactly these."""

    repo: str | None = None  # hub id; None when model.id was a local folder
    commit: str | None = None
    dir: str
    quantized_in: Literal["repo", "load"] | None = None  # stored 4-bit in the repo, or quantized while loading
    quantized_modules: list[str] = []
    quantization: Quantization | None = None
    kept_in_16_bit: list[str] | None = None

    @field_validator("quantization", mode="before")
    @classmethod
    def _none_when_empty(cls, value):
        return value or None

    @property
    def source(self) -> str:
        return self.repo or self.dir

    @property
    def label(self) -> str:
        return f"{self.source}@{(self.commit or 'local')[:12]}"


class BaseModelRecord(Record):
    id: str
    revision: str | None = None
    commit: str | None = None
    trained_against: TrainedAgainst | None = None

    def require_trained_against(self, then: str) -> TrainedAgainst:
        if self.trained_against is None:
            raise UserError("the adapter manifest does not say which weights it was trained against (written by an "
                            f"older version); {then}")
        return self.trained_against


class Manifest(Record):
    stage: str
    written_at: str = ""
    host: str = ""
    versions: dict[str, str | None] = {}


class AdapterManifest(Manifest):
    stage: Literal["train"]
    base_model: BaseModelRecord
    adapter: dict
    data: dict
    results: dict


class MergeManifest(Manifest):
    stage: Literal["merge"]
    base_model: str
    adapter: str


class GgufArtifact(Record):
    file: str
    bytes: int
    sha256: str
    file_type: int | None = None


class ConvertManifest(Manifest):
    stage: Literal["convert"]
    artifacts: dict[str, GgufArtifact]
    merge_base: Literal["original", "dequantized"]
    parity: dict


SCHEMAS: dict[str, type[Manifest]] = {"train": AdapterManifest, "merge": MergeManifest, "convert": ConvertManifest}


def parse_manifest(body: dict, path: Path | str) -> Manifest:
    """The typed manifest of a stage's body, or one line naming the file and the first bad field."""
    schema = SCHEMAS.get(body.get("stage"), Manifest)
    try:
        return schema.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UserError(f"{path}: not a valid {body.get('stage')} manifest ({where}: {first['msg']}); "
                        "re-run the stage that wrote it") from None


def read_adapter_manifest(folder: Path, hint: str) -> AdapterManifest:
    return _read(folder, "train", hint)


def read_merge_manifest(folder: Path, hint: str) -> MergeManifest:
    return _read(folder, "merge", hint)


def read_convert_manifest(folder: Path, hint: str) -> ConvertManifest:
    return _read(folder, "convert", hint)


def _read(folder: Path, stage: str, hint: str):
    return parse_manifest(read_manifest(folder, stage, hint), manifest_path(folder))
