"""On a CUDA GPU with Unsloth: `gradient_checkpointing: auto` trains without checkpoints when the card
fits that, the switch really changes what a step keeps in memory, and the trainer keeps the choice."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("needs a CUDA GPU", allow_module_level=True)
pytest.importorskip("unsloth")

from train.batch_probe import plan_memory, usable_gpu_memory  # noqa: E402
from train.model import switch_unsloth_checkpointing  # noqa: E402

SEQ = 4096


@pytest.fixture(scope="module")
def model(small_llama_dir):
    from unsloth import FastLanguageModel

    loaded, _ = FastLanguageModel.from_pretrained(str(small_llama_dir), use_exact_model_name=True,
                                                  max_seq_length=SEQ, load_in_4bit=True, dtype=torch.bfloat16)
    # as train.model.load_with_unsloth loads for `auto`: offloaded checkpointing armed
    return FastLanguageModel.get_peft_model(loaded, r=8, lora_alpha=8, lora_dropout=0.0, bias="none",
                                            target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                            "gate_proj", "up_proj", "down_proj"],
                                            use_gradient_checkpointing="unsloth", random_state=0)


def step_peak(model) -> int:
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    ids = torch.randint(1000, 100000, (1, 4 * SEQ), device="cuda")
    positions = torch.arange(SEQ, device="cuda").repeat(4)[None]
    base = torch.cuda.memory_allocated()
    model(input_ids=ids, position_ids=positions, labels=ids).loss.backward()
    model.zero_grad(set_to_none=True)
    return torch.cuda.max_memory_allocated() - base


def flags(model) -> set:
    return {m.gradient_checkpointing for m in model.modules() if "gradient_checkpointing" in vars(m)}


def test_auto_trains_without_checkpoints_when_the_card_fits_them(model):
    switches = []

    def switch(setting):
        switches.append(setting)
        switch_unsloth_checkpointing(model, setting)

    plan = plan_memory(model, SEQ, "auto", 16384, "auto", switch)
    assert plan.checkpointing == "off" and plan.micro_batch == 4, plan
    assert switches == ["off"]
    assert model._unsloth_gradient_checkpointing is False
    assert flags(model) == {False}
    from unsloth import FastLanguageModel

    FastLanguageModel.for_training(model)  # what the trainer does when training starts
    assert flags(model) == {False}


def test_switching_checkpointing_changes_what_a_step_keeps(model):
    switch_unsloth_checkpointing(model, "unsloth")
    assert flags(model) - {False}, "no module checkpoints after switching back on"
    offloaded = step_peak(model)
    switch_unsloth_checkpointing(model, "off")
    kept = step_peak(model)
    # kept: at least one MLP intermediate per layer (2 layers × 16,384 tokens × 1,024 × bf16) more
    assert kept - offloaded > 2 * 4 * SEQ * 1024 * 2, (kept, offloaded)


def test_a_fixed_mode_is_left_as_loaded(model):
    switch_unsloth_checkpointing(model, "unsloth")
    plan = plan_memory(model, SEQ, 2, 16384, "unsloth",
                       lambda setting: pytest.fail(f"switched to {setting} though the config fixed the mode"))
    assert (plan.micro_batch, plan.checkpointing) == (2, "unsloth")


def test_memory_another_process_holds_is_not_the_probes_to_fill():
    before = usable_gpu_memory()
    holder = subprocess.Popen([sys.executable, "-c", "import time, torch; held = torch.empty(8 << 30, dtype=torch.uint8, "
                               "device='cuda'); print('held', flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        during = usable_gpu_memory()
    finally:
        holder.kill()
        holder.wait()
    assert before - during >= 8 << 30, (before, during)
