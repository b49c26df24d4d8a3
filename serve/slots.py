"""How many requests llama-server decodes at once when `serve.slots: auto`.

On a CPU, or with layers left off the GPU, a few: the KV cache sits in RAM next to everything else,
and the cores bound the speed. On a GPU that holds every layer, as many slots of `n_ctx` tokens as
its free memory holds after the model, up to 64: there every client gets a slot instead of a place
in the queue, and a long context per slot costs memory, not speed (BENCHMARKS.md, "Many users at
once"). llama.cpp's own `--fit` sizes the context and the offloaded layers, not the slots, so this
is done here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CPU_SLOTS = 4
MAX_GPU_SLOTS = 64
# llama.cpp's compute buffers and the CUDA context, beside the weights and the KV cache
GPU_RESERVE_BYTES = 3 * 2**30
KV_BYTES_PER_VALUE = 2  # llama-server's default cache type, f16


@dataclass(frozen=True)
class SlotChoice:
    slots: int
    reason: str


def kv_bytes_per_token(gguf_path: Path) -> int | None:
    """Bytes of f16 K and V one token takes in every layer, from the GGUF's own metadata; None when
    the file does not say (an architecture without these keys)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf_path))

    def value(key: str):
        field = reader.get_field(key)
        return None if field is None else field.contents()

    arch = value("general.architecture")
    layers = value(f"{arch}.block_count")
    heads = value(f"{arch}.attention.head_count")
    width = value(f"{arch}.embedding_length")
    if not (layers and heads and width):
        return None
    kv_heads = value(f"{arch}.attention.head_count_kv") or heads
    head_dim = width // (max(heads) if isinstance(heads, list) else heads)
    key_dim = value(f"{arch}.attention.key_length") or head_dim
    value_dim = value(f"{arch}.attention.value_length") or head_dim
    per_layer = kv_heads if isinstance(kv_heads, list) else [kv_heads] * layers
    return sum(n * (key_dim + value_dim) for n in per_layer) * KV_BYTES_PER_VALUE


def free_gpu_bytes() -> int | None:
    """Free memory of the first GPU llama-server will see, as the NVIDIA driver reports it; None
    without one. With several GPUs llama-server spreads the layers over all, so the first one's
    memory is the cautious figure."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
    if visible in ("", "-1"):  # every GPU hidden from CUDA
        return None
    try:
        answer = subprocess.run([smi, "--query-gpu=memory.free", "--format=csv,noheader,nounits", f"--id={visible}"],
                                capture_output=True, text=True, timeout=20, check=True)
        return int(answer.stdout.split()[0]) * 2**20
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def built_with_cuda(binary: Path) -> bool:
    """Whether this llama-server build has the CUDA backend beside it (`make setup` builds it shared)."""
    return any(binary.parent.glob("libggml-cuda*"))


def gpu_slots(free_bytes: int, model_bytes: int, n_ctx: int, kv_per_token: int) -> SlotChoice:
    room = free_bytes - model_bytes - GPU_RESERVE_BYTES
    per_slot = n_ctx * kv_per_token
    slots = max(1, min(MAX_GPU_SLOTS, room // per_slot))
    return SlotChoice(slots, f"{room / 2**30:.1f} GiB of free GPU memory after the model holds "
                             f"{room // per_slot} KV caches of {n_ctx:,} tokens ({per_slot / 2**30:.2f} GiB each); "
                             f"at most {MAX_GPU_SLOTS}")


def auto_slots(gguf_path: Path, n_ctx: int, n_gpu_layers: int, binary: Path) -> SlotChoice:
    if not built_with_cuda(binary):
        return SlotChoice(CPU_SLOTS, "llama-server runs on the CPU")
    if n_gpu_layers != -1:
        return SlotChoice(CPU_SLOTS, "not every layer is on the GPU")
    free = free_gpu_bytes()
    if free is None:
        return SlotChoice(CPU_SLOTS, "no GPU reports its memory")
    kv_per_token = kv_bytes_per_token(gguf_path)
    if kv_per_token is None:
        return SlotChoice(CPU_SLOTS, "the GGUF does not give its layer and head counts")
    return gpu_slots(free, gguf_path.stat().st_size, n_ctx, kv_per_token)
