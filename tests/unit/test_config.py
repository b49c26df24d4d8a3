"""Run config: typed, validated, overridable; bad config stops before any work with exit code 2."""

import pytest

from common.config import load_config
from common.errors import UserError
from tests.conftest import REAL, ROOT, TINY, assert_user_error, run_cli


def test_both_profiles_load_with_the_settings_the_issue_names():
    real = load_config(REAL)
    assert real.model.id == "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
    assert (real.data.source, real.data.subset, real.data.expected_rows) == (
        "FreedomIntelligence/medical-o1-reasoning-SFT", "en", 19704)
    assert real.data.revision
    assert (real.lora.r, real.lora.alpha, real.lora.load_in_4bit) == (16, 16, True)
    assert sorted(real.lora.target_modules) == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    assert real.model.max_seq_length == 2048
    assert (real.sampling.temperature, real.sampling.top_p) == (0.6, 0.95)
    tiny = load_config(TINY)
    assert tiny.train.device == "cpu" and not tiny.lora.load_in_4bit


@pytest.mark.parametrize("subset", ["zh", "en_mix", "zh_mix"])
def test_the_medical_o1_subset_profiles_are_the_default_profile_but_for_the_subset(subset):
    default = load_config(REAL).model_dump()
    profile = load_config(ROOT / "configs" / f"r1-distill-llama-8b-medical-{subset}.yaml").model_dump()
    assert (profile["name"], profile["data"]["subset"], profile["data"]["expected_rows"]) == (
        f"r1-distill-llama-8b-medical-{subset}", subset, None)
    for tree in (default, profile):
        tree.pop("name")
        tree["data"].pop("subset")
        tree["data"].pop("expected_rows")
    assert profile == default


def test_extends_reads_the_named_file_first_and_refuses_a_loop(tmp_path):
    (tmp_path / "child.yaml").write_text(f"extends: {TINY}\nname: child\ntrain: {{max_steps: 3}}\n")
    config = load_config(tmp_path / "child.yaml", ["lora.r=8"])
    assert (config.name, config.train.max_steps, config.lora.r) == ("child", 3, 8)
    assert config.train.learning_rate == load_config(TINY).train.learning_rate
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\nname: loop\n")
    with pytest.raises(UserError, match="leads back to itself"):
        load_config(tmp_path / "loop.yaml")


def test_overrides_are_typed_and_scientific_notation_is_a_number():
    config = load_config(TINY, ["train.max_steps=7", "train.learning_rate=5e-4", "lora.rslora=true",
                                "convert.quant_types=[q4_k_m]"])
    assert config.train.max_steps == 7
    assert config.train.learning_rate == pytest.approx(5e-4)
    assert config.lora.rslora is True
    assert config.convert.quant_types == ["q4_k_m"]


@pytest.mark.parametrize("override,needle", [
    ("train.lrr=1", "unknown key 'train.lrr'"),
    ("train.max_steps=ten", "'train.max_steps'"),
    ("train.max_steps='10'", "'train.max_steps'"),
    ("lora.r=0", "positive"),
    ("convert.quant_types=[q3_k]", "convert.quant_types"),
    ("serve.port=70000", "serve.port"),
    ("train.micro_batch_size=many", "'train.micro_batch_size': must be a positive integer or 'auto'"),
    ("serve.slots=0", "serve.slots"),
    ("serve.slots=many", "serve.slots"),
    ("nonsense", "not key=value"),
])
def test_bad_values_name_the_key_and_the_file(override, needle):
    with pytest.raises(UserError) as error:
        load_config(TINY, [override])
    assert needle in str(error.value)
    if "=" in override:
        assert str(TINY) in str(error.value)


def test_bad_config_on_the_command_line_is_one_line_exit_2_and_creates_nothing(tmp_path):
    runs = tmp_path / "runs"
    for override in ("train.lrr=1", "train.max_steps=ten", "lora.r=0"):
        result = run_cli("train", "--config", str(TINY), f"runs_dir={runs}", override)
        assert_user_error(result, str(TINY))
    assert not runs.exists()


def test_missing_config_file_is_a_user_error(tmp_path):
    result = run_cli("convert", "--config", str(tmp_path / "nope.yaml"))
    assert_user_error(result, "config file not found")


def test_real_profile_without_cuda_points_to_the_demo(tmp_path):
    runs = tmp_path / "runs"
    result = run_cli("train", "--config", str(REAL), f"runs_dir={runs}")
    assert_user_error(result, "CUDA", "make demo")
    assert not runs.exists()


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme


def test_one_command_dispatches_every_verb_with_one_grammar(tmp_path):
    listed = run_cli("r1med", "--help")
    assert listed.returncode == 0
    for verb in ("train", "grpo", "report", "convert", "serve", "chat", "check", "eval", "bench"):
        assert f"\n{verb} " in listed.stdout
    unknown = run_cli("r1med", "deploy")
    assert unknown.returncode == 2 and "unknown verb 'deploy'" in unknown.stderr
    for verb in ("train", "grpo", "report", "convert", "serve", "chat", "check"):
        result = run_cli("r1med", verb, "--config", str(tmp_path / "missing.yaml"))
        assert_user_error(result, "missing.yaml")
    tasks = run_cli("r1med", "eval", "tasks", "--config", str(TINY), "eval.tasks=[offline_mc]")
    assert tasks.returncode == 0 and "offline_mc" in tasks.stdout
