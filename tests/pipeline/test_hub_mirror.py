"""The hub mirror, for real: huggingface_hub, transformers and datasets download from it on 127.0.0.1.

Each client runs in its own process with HF_ENDPOINT and a fresh HF_HOME in its environment: the
libraries read both once, at import, so setting them in this process would not reach them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from safetensors.numpy import save_file

from tests.conftest import ROOT, assert_user_error, run_cli
from tools.hub_mirror import index as mirror_index
from tools.hub_mirror import running_mirror

MODEL_ID = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
DATASET_ID = "FreedomIntelligence/medical-o1-reasoning-SFT"
LARGE_ID = "mirror-tests/one-large-file"
SHARDS = ("model-00001-of-000002.safetensors", "model-00002-of-000002.safetensors")

EN_ROWS = [
    {"Question": "A 45-year-old has crushing chest pain. First test?",
     "Complex_CoT": "Think of ischaemia; an ECG is quick and decisive.", "Response": "A 12-lead ECG."},
    {"Question": "Which vitamin deficiency causes scurvy?",
     "Complex_CoT": "Collagen synthesis needs ascorbate.", "Response": "Vitamin C."},
]
ZH_ROWS = [
    {"Question": "坏血病是缺乏哪种维生素引起的？", "Complex_CoT": "胶原合成需要抗坏血酸。", "Response": "维生素C。"},
    {"Question": "胸痛患者首先做什么检查？", "Complex_CoT": "考虑心肌缺血，心电图快速且关键。",
     "Response": "12导联心电图。"},
]
DATASET_CARD = """---
license: apache-2.0
configs:
- config_name: en
  data_files: medical_o1_sft.json
- config_name: zh
  data_files: medical_o1_sft_Chinese.json
---
# medical-o1-reasoning-SFT (a few rows for the mirror's tests)
"""

# What each client process starts with: its arguments, a way to hand back a result, and a way to name
# the error a call raises (the class and its bases, as huggingface_hub's errors subclass each other).
CLIENT_PRELUDE = """
import json, sys
ARGS = json.loads(sys.argv[1])
def report(value):
    print("RESULT " + json.dumps(value), flush=True)
def raised(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except Exception as exc:
        return [cls.__name__ for cls in type(exc).__mro__]
    return []
"""


def write_model_repo(folder: Path, tiny: Path) -> None:
    folder.mkdir(parents=True)
    for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                 "chat_template.jinja"):
        if (tiny / name).is_file():
            shutil.copyfile(tiny / name, folder / name)
    shards = {
        SHARDS[0]: {"model.embed_tokens.weight": np.arange(32, dtype=np.float32).reshape(8, 4)},
        SHARDS[1]: {"lm_head.weight": np.ones((8, 4), dtype=np.float32)},
    }
    weight_map = {}
    for shard, tensors in shards.items():
        save_file(tensors, str(folder / shard))
        weight_map.update(dict.fromkeys(tensors, shard))
    total = sum(t.nbytes for tensors in shards.values() for t in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")


def write_dataset_repo(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "README.md").write_text(DATASET_CARD, encoding="utf-8")
    for name, rows in (("medical_o1_sft.json", EN_ROWS), ("medical_o1_sft_Chinese.json", ZH_ROWS)):
        (folder / name).write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")


def write_large_file(path: Path) -> None:
    """A sparse file just past the large-file threshold, with a marker at the end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    marker = b"end of the large file\n"
    with open(path, "wb") as handle:
        handle.seek(mirror_index.LARGE_FILE_BYTES + 4096 - len(marker))
        handle.write(marker)


def repo_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != mirror_index.INDEX_NAME}


@pytest.fixture(scope="module")
def mirror_root(tmp_path_factory, tiny_model) -> Path:
    root = tmp_path_factory.mktemp("mirror")
    write_model_repo(root / "models" / MODEL_ID, tiny_model)
    write_dataset_repo(root / "datasets" / DATASET_ID)
    write_large_file(root / "models" / LARGE_ID / "weights.bin")
    return root


@pytest.fixture(scope="module")
def mirror(mirror_root) -> str:
    with running_mirror(mirror_root) as url:
        yield url


@pytest.fixture
def hub_env(mirror, tmp_path) -> dict[str, str]:
    """A client's environment: this mirror as the hub, a fresh HF_HOME, and none of the caller's HF_*
    settings (a cache folder or offline flag set there would redirect or stop the client)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    return {**env, "HF_ENDPOINT": mirror, "HF_HOME": str(tmp_path / "hf_home"),
            "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def run_client(code: str, env: dict[str, str], cwd: Path, timeout: int = 120, **args: Any) -> Any:
    """Run `code` in a fresh Python, from `cwd` (where no folder shadows a repo id); return its report."""
    result = subprocess.run([sys.executable, "-c", CLIENT_PRELUDE + code, json.dumps(args)], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    reports = [line[len("RESULT "):] for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert reports, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(reports[-1])


def test_model_info_lists_the_files_and_their_sizes_on_request(hub_env, mirror_root, tmp_path):
    out = run_client("""
from huggingface_hub import HfApi
api = HfApi()
plain = api.model_info(ARGS["repo"])
full = api.model_info(ARGS["repo"], files_metadata=True)
infos = api.get_paths_info(ARGS["repo"], ["config.json", "tokenizer.json", "missing.json"], expand=True)
report({"sha": plain.sha, "plain_sizes": sorted({str(s.size) for s in plain.siblings}),
        "paths_info": {i.path: [i.size, i.lfs and i.lfs.sha256, i.last_commit.oid] for i in infos},
        "sizes": {s.rfilename: s.size for s in full.siblings},
        "lfs": {s.rfilename: [s.lfs.sha256, s.lfs.size] for s in full.siblings if s.lfs},
        "files": api.list_repo_files(ARGS["repo"]),
        "main": [(b.name, b.target_commit) for b in api.list_repo_refs(ARGS["repo"]).branches]})
""", hub_env, tmp_path, repo=MODEL_ID)
    files = repo_files(mirror_root / "models" / MODEL_ID)
    assert re.fullmatch("[0-9a-f]{40}", out["sha"])
    assert out["main"] == [["main", out["sha"]]]
    assert out["plain_sizes"] == ["None"]  # as on the hub: sizes only with files_metadata=True
    assert out["sizes"] == {path: len(data) for path, data in files.items()}
    assert sorted(out["files"]) == sorted(files) and set(SHARDS) <= set(files)
    tokenizer = files["tokenizer.json"]
    assert len(tokenizer) >= mirror_index.LARGE_FILE_BYTES  # so it is listed as an LFS file
    tokenizer_sha256 = hashlib.sha256(tokenizer).hexdigest()
    assert out["lfs"] == {"tokenizer.json": [tokenizer_sha256, len(tokenizer)]}
    assert out["paths_info"] == {"config.json": [len(files["config.json"]), None, out["sha"]],
                                 "tokenizer.json": [len(tokenizer), tokenizer_sha256, out["sha"]]}


def test_downloads_are_byte_identical_and_the_snapshot_is_named_by_the_commit(hub_env, mirror_root, tmp_path):
    out = run_client("""
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
sha = HfApi().model_info(ARGS["repo"]).sha
report({"sha": sha, "config": hf_hub_download(ARGS["repo"], "config.json"),
        "snapshot": snapshot_download(ARGS["repo"]),
        "pinned": snapshot_download(ARGS["repo"], revision=sha, cache_dir=ARGS["second_cache"])})
""", hub_env, tmp_path, repo=MODEL_ID, second_cache=str(tmp_path / "second_cache"))
    files = repo_files(mirror_root / "models" / MODEL_ID)
    assert Path(out["config"]).read_bytes() == files["config.json"]
    for snapshot in (Path(out["snapshot"]), Path(out["pinned"])):
        assert snapshot.name == out["sha"]
        assert repo_files(snapshot) == files


def test_a_missing_revision_repo_or_file_raises_the_hubs_error(hub_env, tmp_path):
    out = run_client("""
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
api, repo = HfApi(), ARGS["repo"]
report({"revision": [raised(hf_hub_download, repo, "config.json", revision="v9.9"),
                     raised(snapshot_download, repo, revision="v9.9"),
                     raised(api.model_info, repo, revision="0" * 40)],
        "repo": [raised(api.model_info, "nobody/nothing"), raised(api.dataset_info, repo),
                 raised(hf_hub_download, "nobody/nothing", "config.json")],
        "file": [raised(hf_hub_download, repo, "no-such-file.json")]})
""", hub_env, tmp_path, repo=MODEL_ID)
    assert all("RevisionNotFoundError" in mro for mro in out["revision"]), out["revision"]
    assert all("RepositoryNotFoundError" in mro for mro in out["repo"]), out["repo"]
    assert "EntryNotFoundError" in out["file"][0], out["file"]


def test_transformers_loads_config_and_tokenizer_then_finds_them_in_the_cache_offline(hub_env, tiny_model,
                                                                                       tmp_path):
    out = run_client("""
from transformers import AutoConfig, AutoTokenizer
config = AutoConfig.from_pretrained(ARGS["repo"])
mirrored, local = AutoTokenizer.from_pretrained(ARGS["repo"]), AutoTokenizer.from_pretrained(ARGS["local"])
report({"config": [config.model_type, config.hidden_size, config.num_hidden_layers],
        "ids": [mirrored("Hello world")["input_ids"], local("Hello world")["input_ids"]],
        "same_template": mirrored.chat_template == local.chat_template})
""", hub_env, tmp_path, repo=MODEL_ID, local=str(tiny_model))
    tiny = json.loads((tiny_model / "config.json").read_text(encoding="utf-8"))
    assert out["config"] == ["llama", tiny["hidden_size"], tiny["num_hidden_layers"]]
    assert out["ids"][0] == out["ids"][1] and len(out["ids"][0]) >= 2
    assert out["same_template"]
    # the same HF_HOME, offline, and an endpoint nothing listens on: the cache alone must do
    offline_env = {**hub_env, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    offline = run_client("""
from transformers import AutoConfig
report(AutoConfig.from_pretrained(ARGS["repo"]).hidden_size)
""", offline_env, tmp_path, repo=MODEL_ID)
    assert offline == tiny["hidden_size"]


def test_datasets_loads_both_configs_by_branch_and_by_commit(hub_env, tmp_path):
    out = run_client("""
from datasets import load_dataset
from huggingface_hub import HfApi
repo = ARGS["repo"]
info = HfApi().dataset_info(repo)
sha = info.sha
report({"configs": info.card_data.to_dict()["configs"],
        "en": load_dataset(repo, "en", split="train").to_list(),
        "zh": load_dataset(repo, "zh", split="train").to_list(),
        "en_at_commit": load_dataset(repo, "en", split="train", revision=sha).to_list()})
""", hub_env, tmp_path, repo=DATASET_ID)
    assert out["configs"] == [{"config_name": "en", "data_files": "medical_o1_sft.json"},
                              {"config_name": "zh", "data_files": "medical_o1_sft_Chinese.json"}]
    assert out["en"] == EN_ROWS and out["en_at_commit"] == EN_ROWS
    assert out["zh"] == ZH_ROWS


def test_the_data_report_of_the_zh_profile_reads_the_hub_tokenizer_and_subset_only(hub_env, tmp_path):
    """`make data-report CONFIG=configs/r1-distill-llama-8b-medical-zh.yaml`: model.id's tokenizer and
    medical-o1's zh config through the hub client, no weights downloaded."""
    runs = tmp_path / "runs"
    result = run_cli("train", "report", "--config", str(ROOT / "configs" / "r1-distill-llama-8b-medical-zh.yaml"),
                     f"runs_dir={runs}", "data.validation_fraction=0", env={**hub_env, "HF_HUB_OFFLINE": "0"})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((runs / "r1-distill-llama-8b-medical-zh" / "data-report" / "summary.json").read_text())
    assert summary["sources"]["train"]["subset"] == "zh" and summary["counts"]["train_rows_kept"] == len(ZH_ROWS)
    assert ZH_ROWS[0]["Response"] in summary["example"]["completion"]
    assert summary["projection"]["micro_batch_auto"] and summary["projection"]["micro_batch_size"] == 16384 // 2048
    downloaded = [p.name for p in (tmp_path / "hf_home" / "hub").rglob("*") if p.is_file()]
    assert "tokenizer.json" in downloaded and not [name for name in downloaded if name.endswith(".safetensors")]


def test_a_range_request_gets_exactly_those_bytes(mirror, mirror_root):
    config = (mirror_root / "models" / MODEL_ID / "config.json").read_bytes()
    url = f"{mirror}/{MODEL_ID}/resolve/main/config.json"
    with httpx.Client(timeout=10) as client:
        middle = client.get(url, headers={"Range": "bytes=10-29"})
        tail = client.get(url, headers={"Range": "bytes=-7"})
    assert middle.status_code == 206 and middle.content == config[10:30]
    assert middle.headers["content-range"] == f"bytes 10-29/{len(config)}"
    assert tail.status_code == 206 and tail.content == config[-7:]


def test_a_large_file_has_a_sha256_etag_and_downloads_intact(hub_env, mirror, mirror_root, tmp_path):
    source = mirror_root / "models" / LARGE_ID / "weights.bin"
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    head = httpx.head(f"{mirror}/{LARGE_ID}/resolve/main/weights.bin", timeout=10)
    assert head.status_code == 200 and head.headers["etag"] == f'"{sha256}"'
    assert head.headers["x-linked-etag"] == f'"{sha256}"'
    assert head.headers["x-linked-size"] == head.headers["content-length"] == str(source.stat().st_size)
    assert "content-encoding" not in head.headers
    path = run_client("""
from huggingface_hub import hf_hub_download
report(hf_hub_download(ARGS["repo"], "weights.bin"))
""", hub_env, tmp_path, repo=LARGE_ID)
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha256
    assert Path(path).resolve().name == sha256  # the client's blob is named after the ETag


def test_the_index_is_built_once_and_reused_until_a_file_changes(tmp_path, monkeypatch):
    root = tmp_path / "mirror"
    write_dataset_repo(root / "datasets" / DATASET_ID)
    built = run_cli("tools.hub_mirror", "index", "--root", str(root), timeout=60)
    assert built.returncode == 0 and "indexed 1 repos" in built.stdout, built.stderr
    sidecar = root / "datasets" / DATASET_ID / mirror_index.INDEX_NAME
    written = sidecar.stat().st_mtime_ns
    hashed: list[str] = []
    real_hash_file = mirror_index.hash_file

    def counted_hash_file(path, *rest):
        hashed.append(path.name)
        return real_hash_file(path, *rest)

    monkeypatch.setattr(mirror_index, "hash_file", counted_hash_file)
    info_url = f"/api/datasets/{DATASET_ID}"
    with running_mirror(root) as url:
        before = httpx.get(url + info_url, timeout=10).json()["sha"]
    assert hashed == [] and sidecar.stat().st_mtime_ns == written
    assert f"main at {before}" in built.stdout  # the same content, the same commit

    changed = root / "datasets" / DATASET_ID / "medical_o1_sft.json"
    changed.write_text(json.dumps(EN_ROWS[:1]), encoding="utf-8")
    os.utime(changed, ns=(written + 10**9, written + 10**9))  # a new mtime even on a coarse clock
    with running_mirror(root) as url:
        after = httpx.get(url + info_url, timeout=10).json()["sha"]
        old = httpx.get(f"{url}{info_url}/revision/{before}", timeout=10)
    assert hashed == ["medical_o1_sft.json"] and after != before
    assert old.status_code == 404 and old.headers["x-error-code"] == "RevisionNotFound"


def test_cli_serve_prints_the_endpoint_answers_and_stops_on_ctrl_c(mirror_root):
    command = [sys.executable, "-m", "tools.hub_mirror", "serve", "--root", str(mirror_root)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(60, process.kill)  # a server that never prints must not hang the suite
    watchdog.start()
    try:
        first, second = process.stdout.readline().strip(), process.stdout.readline().strip()
        printed = (first, second)
        assert second.startswith("export HF_ENDPOINT=http://127.0.0.1:"), (printed, process.stderr.read())
        url = second.removeprefix("export HF_ENDPOINT=")
        assert first == f"hub mirror at {url} serving 3 repos from {mirror_root.resolve()}"
        refs = httpx.get(f"{url}/api/models/{MODEL_ID}/refs", timeout=10).json()
        assert refs["branches"][0]["name"] == "main"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
        assert "Traceback" not in stderr, stderr[-2000:]
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_cli_serve_on_a_missing_root_is_a_user_error(tmp_path):
    result = run_cli("tools.hub_mirror", "serve", "--root", str(tmp_path / "nowhere"), timeout=60)
    assert_user_error(result, "mirror root not found")


def test_cli_serve_on_a_busy_port_is_a_user_error(tmp_path):
    (tmp_path / "models").mkdir()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_cli("tools.hub_mirror", "serve", "--root", str(tmp_path), "--port", str(port),
                         timeout=60)
    assert_user_error(result, "cannot listen on", str(port))
