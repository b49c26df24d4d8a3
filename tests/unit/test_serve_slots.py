"""serve.slots: auto sizes llama-server's slots from the GGUF's own shape and the GPU's free memory."""

from pathlib import Path

import gguf
import pytest

from common.config import load_config
from serve.slots import (
    CPU_SLOTS,
    GPU_RESERVE_BYTES,
    MAX_GPU_SLOTS,
    SlotChoice,
    auto_slots,
    built_with_cuda,
    free_gpu_bytes,
    gpu_slots,
    kv_bytes_per_token,
)
from tests.conftest import REAL, TINY

GIB = 2**30


def llama_gguf(path: Path, layers: int, hidden: int | None = None, heads: int | None = None,
               kv_heads: int | None = None) -> Path:
    """A metadata-only GGUF with a Llama model's shape keys (those given), written by the gguf package."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(layers)
    if hidden:
        writer.add_embedding_length(hidden)
    if heads:
        writer.add_head_count(heads)
    if kv_heads:
        writer.add_head_count_kv(kv_heads)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_kv_bytes_per_token_of_llama_8b_is_128_kib(tmp_path):
    # 32 layers x 8 KV heads x (128 + 128) dims x 2 bytes
    assert kv_bytes_per_token(llama_gguf(tmp_path / "8b.gguf", 32, 4096, 32, 8)) == 128 * 1024
    # the tiny stand-in: 4 layers x 2 KV heads x (64 + 64) x 2
    assert kv_bytes_per_token(llama_gguf(tmp_path / "tiny.gguf", 4, 256, 4, 2)) == 2048


def test_a_gguf_without_its_shape_keys_gives_no_kv_size(tmp_path):
    assert kv_bytes_per_token(llama_gguf(tmp_path / "bare.gguf", 4)) is None


def test_gpu_slots_fill_the_free_memory_up_to_the_cap():
    q4_8b, per_token = int(4.9e9), 128 * 1024
    assert gpu_slots(139 * GIB, q4_8b, 8192, per_token).slots == MAX_GPU_SLOTS  # an H200 holds 123
    card = gpu_slots(23 * GIB, q4_8b, 8192, per_token)  # a 24 GB card with its display
    assert card.slots == (23 * GIB - q4_8b - GPU_RESERVE_BYTES) // (8192 * per_token) == 15
    assert "15 KV caches of 8,192 tokens" in card.reason
    assert gpu_slots(23 * GIB, q4_8b, 1024, per_token).slots == MAX_GPU_SLOTS
    assert gpu_slots(6 * GIB, q4_8b, 8192, per_token).slots == 1  # llama-server then says what does not fit


def test_auto_is_a_few_slots_without_a_cuda_build_or_with_layers_off_the_gpu(tmp_path):
    model = llama_gguf(tmp_path / "m.gguf", 4, 256, 4, 2)
    cpu_build = tmp_path / "cpu" / "llama-server"
    cpu_build.parent.mkdir()
    cpu_build.touch()
    assert not built_with_cuda(cpu_build)
    for layers in (-1, 0):
        assert auto_slots(model, 8192, layers, cpu_build) == SlotChoice(CPU_SLOTS, "llama-server runs on the CPU")
    cuda_build = tmp_path / "cuda" / "llama-server"
    cuda_build.parent.mkdir()
    (cuda_build.parent / "libggml-cuda.so").touch()
    assert built_with_cuda(cuda_build)
    assert auto_slots(model, 8192, 20, cuda_build).reason == "not every layer is on the GPU"
    if free_gpu_bytes() is None:  # this machine: no NVIDIA driver
        assert auto_slots(model, 8192, -1, cuda_build).slots == CPU_SLOTS


@pytest.mark.parametrize("profile", [REAL, TINY])
def test_profiles_default_to_auto_and_a_number_overrides_it(profile):
    assert load_config(profile).serve.slots == "auto"
    assert load_config(profile, ["serve.slots=64"]).serve.slots == 64
