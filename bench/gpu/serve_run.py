"""A run folder for the serve benchmarks on the GPU host, without a training run.

The 8B-shaped model (random weights) stands in for the merged model, and a LoRA adapter of the
config's rank and target modules, made by PEFT with random A and B (so that it changes the
output), stands in for the trained adapter. Each gets the manifest its stage would write, so
`python -m serve` with serve.backend=vllm finds them exactly as after `make train convert`.

    python bench/gpu/serve_run.py --config FILE --model DIR [key=value ...]   (runs_dir= and name= apply)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.artifacts import write_manifest  # noqa: E402
from common.config import load_config  # noqa: E402
from common.layout import RunLayout  # noqa: E402
from train.model import lora_kwargs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    config = load_config(args.config, [*args.overrides, f"model.id={args.model}"])
    layout = RunLayout.for_run(config.runs_dir, config.name)

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    layout.merged.mkdir(parents=True, exist_ok=True)
    for item in args.model.iterdir():
        target = layout.merged / item.name
        if not target.exists():
            target.symlink_to(item.resolve())
    write_manifest(layout.merged, "merge", {"base_model": str(args.model), "adapter": "none: the base itself",
                                            "note": "serve benchmark"})

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16, device_map=device)
    peft_model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", init_lora_weights=False,
                                                  **lora_kwargs(config)))
    peft_model.save_pretrained(layout.adapter)
    write_manifest(layout.adapter, "train", {
        "base_model": {"id": str(args.model), "trained_against": {"dir": str(args.model)}},
        "adapter": {"r": config.lora.r}, "data": {}, "results": {},
        "note": "random LoRA weights made by PEFT (serve benchmark)"})
    print(f"{layout.merged}\n{layout.adapter}")


if __name__ == "__main__":
    main()
