"""The weights an adapter is merged onto, read one tensor at a time.

A LoRA update is only right on the weights it was trained against. Train records them in the
adapter manifest (`base_model.trained_against`): the repo and commit it loaded and, for QLoRA,
which modules were held in 4 bits and how. Three cases follow:
- 16-bit training: the repo's tensors as stored;
- a pre-quantized repo (e.g. Unsloth's dynamic 4-bit mirror): its stored 4-bit tensors
  dequantized exactly as bitsandbytes dequantizes them in the forward pass, and its 16-bit
  tensors (modules the mirror keeps unquantized) as stored;
- quantized while loading: the 16-bit repo's tensors, with the modules that were 4-bit taken
  through the same NF4 quantization and back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open

from common.errors import UserError
from common.manifests import TrainedAgainst

# Tensors bitsandbytes stores beside a packed 4-bit weight `<module>.weight`.
QUANT_STATE_SUFFIXES = (".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map",
                        ".quant_state.bitsandbytes__nf4", ".quant_state.bitsandbytes__fp4")


def weight_files(model_dir: Path) -> list[Path]:
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [model_dir / name for name in names]
    single = model_dir / "model.safetensors"
    if single.is_file():
        return [single]
    raise UserError(f"{model_dir} holds no safetensors weights (.bin checkpoints are not supported)")


def _bitsandbytes():
    try:
        import bitsandbytes.functional as functional
    except ImportError:
        raise UserError("4-bit weights need bitsandbytes to be read (pip install bitsandbytes)") from None
    return functional


def nf4_round_trip(weight: torch.Tensor, device: str, blocksize: int = 64, double_quant: bool = True,
                   quant_type: str = "nf4") -> torch.Tensor:
    """The weight as a bitsandbytes 4-bit layer computes with it: quantized, then dequantized."""
    functional = _bitsandbytes()
    source = weight.to(device=device, dtype=torch.bfloat16)
    packed, state = functional.quantize_4bit(source, blocksize=blocksize, quant_type=quant_type,
                                             compress_statistics=double_quant)
    return functional.dequantize_4bit(packed, state).to("cpu")


@dataclass
class BaseWeights:
    """One model's tensors by name, as the adapter saw them.

    `stored_4bit`: the files hold bitsandbytes-packed 4-bit weights to dequantize.
    `round_trip`: module names whose 16-bit weights go through NF4 and back (`quantization`
    gives blocksize, double quantization and type)."""

    dir: Path
    stored_4bit: bool = False
    round_trip: frozenset[str] = frozenset()
    quantization: dict = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        self.files = weight_files(self.dir)
        self._location: dict[str, Path] = {}
        for path in self.files:
            with safe_open(str(path), framework="pt") as handle:
                for key in handle.keys():
                    self._location[key] = path
        self._handles: dict[Path, object] = {}

    def names(self) -> list[str]:
        """Every weight's name, in file order; quantization statistics are not weights."""
        return [key for key in self._location if not key.endswith(QUANT_STATE_SUFFIXES)]

    def nbytes(self) -> int:
        return sum(path.stat().st_size for path in self.files)

    def _raw(self, key: str) -> torch.Tensor:
        path = self._location[key]
        if path not in self._handles:
            self._handles[path] = safe_open(str(path), framework="pt")
        return self._handles[path].get_tensor(key)

    def read(self, name: str, device: str = "cpu") -> torch.Tensor:
        tensor = self._raw(name)
        if self.stored_4bit and f"{name}.absmax" in self._location:
            return self._dequantize(name, tensor, device)
        module = name.removesuffix(".weight")
        if module in self.round_trip and tensor.is_floating_point():
            q = self.quantization
            return nf4_round_trip(tensor, device, q.get("blocksize", 64), q.get("double_quant", True),
                                  q.get("quant_type", "nf4"))
        return tensor

    def _dequantize(self, name: str, packed: torch.Tensor, device: str) -> torch.Tensor:
        functional = _bitsandbytes()
        companions = {key[len(name) + 1:]: self._raw(key) for key in self._location
                      if key.startswith(name + ".") and key.endswith(QUANT_STATE_SUFFIXES)}
        state = functional.QuantState.from_dict(companions, device=torch.device(device))
        return functional.dequantize_4bit(packed.to(device), state).to("cpu")

    def items(self, device: str = "cpu") -> Iterator[tuple[str, torch.Tensor]]:
        for name in self.names():
            yield name, self.read(name, device)

    def close(self) -> None:
        self._handles.clear()


def model_config(model_dir: Path) -> dict:
    """config.json without a quantization block: what the merged (16-bit) model declares."""
    config = json.loads((model_dir / "config.json").read_text())
    config.pop("quantization_config", None)
    return config


def trained_against(record: TrainedAgainst, fetch) -> BaseWeights:
    """The weights the adapter was trained on, from its train manifest's record. `fetch(repo,
    commit)` returns the local folder of a model (the hub cache, a mirror, or a path)."""
    folder = fetch(record.source, record.commit)
    if record.quantized_in == "repo":
        return BaseWeights(folder, stored_4bit=True, description=f"{record.label}, stored 4-bit weights dequantized")
    if record.quantized_in == "load":
        modules = frozenset(record.quantized_modules)
        settings = record.quantization.model_dump() if record.quantization else {}
        return BaseWeights(folder, round_trip=modules, quantization=settings,
                           description=f"{record.label}, {len(modules)} modules through NF4 and back as at load time")
    return BaseWeights(folder, description=f"{record.label}, as stored")


def original(folder: Path, label: str) -> BaseWeights:
    weights = BaseWeights(folder, description=f"{label}, original 16-bit weights")
    if any(name.endswith(".absmax") for name in weights._location):
        raise UserError(f"{label} holds 4-bit weights: it is not a 16-bit original to merge onto")
    return weights
