"""GGUF export with llama.cpp's own converter (from the pinned llama-cpp-python sdist) and
in-process quantization with the llama.cpp that llama-cpp-python was built from."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from common.errors import UserError
from common.layout import LLAMA_CPP_PYTHON_VERSION, llama_cpp_source_dir

# Types llama_model_quantize takes (llama.h's llama_ftype); f16 and bf16 come from the converter.
QUANT_FTYPES = {"q8_0": 7, "q6_k": 18, "q5_k_m": 17, "q4_k_m": 15}
CONVERTER_OUTTYPES = {"f16": "f16", "bf16": "bf16", "q8_0": "q8_0"}


def converter_script() -> Path:
    script = llama_cpp_source_dir() / "convert_hf_to_gguf.py"
    if not script.is_file():
        raise UserError(f"llama.cpp's converter is missing ({script}); run `make setup`")
    return script


def check_runtime_version() -> str:
    """The converter and the runtime must come from the same llama.cpp."""
    from importlib.metadata import version

    runtime = version("llama_cpp_python")
    if runtime != LLAMA_CPP_PYTHON_VERSION:
        raise UserError(f"llama-cpp-python {runtime} is installed but the converter is from "
                        f"{LLAMA_CPP_PYTHON_VERSION}; run `make setup` to reinstall the pinned version")
    return runtime


def convert_to_gguf(merged_dir: Path, out_file: Path, outtype: str, name: str, sampling: dict, log: Path) -> None:
    metadata = out_file.with_suffix(".metadata.json")
    metadata.write_text(json.dumps({
        "general.name": name,
        "general.sampling.temp": sampling["temperature"],
        "general.sampling.top_p": sampling["top_p"],
    }))
    command = [sys.executable, str(converter_script()), str(merged_dir), "--outfile", str(out_file),
               "--outtype", CONVERTER_OUTTYPES[outtype], "--metadata", str(metadata)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        with open(log, "w") as log_handle, _spinner(f"converting to GGUF {outtype}"):
            result = subprocess.run(command, stdout=log_handle, stderr=subprocess.STDOUT, env=env)
    finally:
        metadata.unlink(missing_ok=True)
    if result.returncode != 0:
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:]
        raise RuntimeError(f"convert_hf_to_gguf.py failed (exit {result.returncode}): "
                           f"{tail[0] if tail else ''} (full log: {log})")


class native_stderr_to:
    """llama.cpp's quantizer logs every tensor to file descriptor 2; send that to a log file."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        self.handle = open(self.log, "a")
        os.dup2(self.handle.fileno(), 2)
        return self

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.handle.close()
        return False


def quantize(source: Path, out_file: Path, quant: str, threads: int | None, log: Path) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_FTYPES[quant]
    params.nthread = threads or 0
    outcome: list[int] = []
    worker = threading.Thread(
        target=lambda: outcome.append(
            llama_cpp.llama_model_quantize(str(source).encode(), str(out_file).encode(), ctypes.byref(params))
        )
    )
    with _spinner(f"quantizing to {quant}"), native_stderr_to(log):
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
    if not outcome or outcome[0] != 0:
        raise RuntimeError(f"llama_model_quantize to {quant} failed (code {outcome[0] if outcome else 'none'})")


class _spinner:
    """A live line with elapsed time for steps that report no progress of their own."""

    def __init__(self, label: str) -> None:
        self.progress = Progress(SpinnerColumn(), TextColumn(label), TimeElapsedColumn(),
                                 console=Console(), transient=True)

    def __enter__(self):
        self.started = time.perf_counter()
        self.progress.start()
        self.progress.add_task("", total=None)
        return self

    def __exit__(self, *exc):
        self.progress.stop()
        return False


def gguf_metadata(path: Path) -> dict:
    """The GGUF's scalar and string metadata, read by llama.cpp itself (arrays are not included)."""
    from llama_cpp import Llama

    with native_stderr_to(Path(os.devnull)):
        model = Llama(str(path), vocab_only=True, verbose=False)
    try:
        return dict(model.metadata)
    finally:
        model.close()
