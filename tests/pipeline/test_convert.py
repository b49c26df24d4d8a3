"""convert/: merged model, GGUFs that carry the R1 template and ids, and a parity ladder that
proves each artifact behaves like the one before it."""

import json

import pytest
import torch

from tests.conftest import TINY, assert_user_error, chinese_rows, run_cli

# Thresholds this project states (README): the merge and the f16 export must be near-lossless,
# quantization may cost, but within these bounds on the tiny model.
MERGED_MIN_TOP1 = 0.98
F16_MIN_TOP1 = 0.99
F16_MAX_KL = 1e-3
Q8_MIN_TOP1 = 0.95
Q4_MIN_TOP1 = 0.75
Q4_MAX_KL = 0.1


def test_convert_writes_every_artifact(trained_run):
    gguf = trained_run["root"] / "gguf"
    for name in ("session-f16.gguf", "session-q8_0.gguf", "session-q4_k_m.gguf", "base-q8_0.gguf",
                 "Modelfile", "parity.json", "manifest.json"):
        assert (gguf / name).is_file(), name
    merged = trained_run["root"] / "merged"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja", "generation_config.json"):
        assert (merged / name).is_file(), name
    assert not list(gguf.glob(".*partial*")) and not list(trained_run["root"].glob(".*partial*"))


def test_parity_ladder_meets_the_stated_thresholds(trained_run):
    parity = json.loads((trained_run["root"] / "gguf" / "parity.json").read_text())
    assert parity["passed"] and parity["tokenization"]["identical"] and parity["chat_prompt"]["identical"]
    steps = {row["step"].split(":")[0] + ":" + row["artifact"].split("-")[-1]: row for row in parity["steps"]}
    merged, f16 = parity["steps"][1], parity["steps"][2]
    q8, q4 = parity["steps"][3], parity["steps"][4]
    assert merged["vs_previous"]["top1_agreement"] >= MERGED_MIN_TOP1
    assert f16["vs_previous"]["top1_agreement"] >= F16_MIN_TOP1
    assert f16["vs_previous"]["mean_kl"] <= F16_MAX_KL
    assert q8["vs_previous"]["top1_agreement"] >= Q8_MIN_TOP1
    assert q4["vs_a"]["top1_agreement"] >= Q4_MIN_TOP1 and q4["vs_a"]["mean_kl"] <= Q4_MAX_KL
    assert len(steps) == 5 and parity["tokens_scored"] > 200


def test_gguf_carries_template_special_ids_and_sampling(trained_run):
    metadata = trained_run["gguf_manifest"]["gguf_metadata"]
    assert metadata["tokenizer.ggml.pre"] == "llama-bpe"
    assert (metadata["tokenizer.ggml.bos_token_id"], metadata["tokenizer.ggml.eos_token_id"]) == ("128000", "128001")
    assert metadata["tokenizer.ggml.padding_token_id"] is not None
    assert float(metadata["general.sampling.temp"]) == pytest.approx(0.6)
    assert float(metadata["general.sampling.top_p"]) == pytest.approx(0.95)
    assert trained_run["gguf_manifest"]["chat_template_embedded"]


def test_modelfile_has_the_r1_template_stops_and_sampling(trained_run):
    text = (trained_run["root"] / "gguf" / "Modelfile").read_text()
    assert text.startswith("FROM ./session-q4_k_m.gguf")
    stops = [line.split('"')[1] for line in text.splitlines() if line.startswith("PARAMETER stop")]
    assert stops == ["<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"]
    assert '{{ if and $last (ne .Role "assistant") }}<｜Assistant｜><think>\n{{ end }}' in text
    assert "PARAMETER temperature 0.6" in text and "PARAMETER top_p 0.95" in text


def test_the_modelfile_lets_ollama_return_the_thinking_apart(trained_run):
    """Ollama infers a model's thinking tags from the text nodes that open and close the block
    holding `.Thinking` inside the range over `.Messages`, and primes its parser with the opening
    tag when the rendered prompt ends in it (R1's generation prompt opens the think block)."""
    template = (trained_run["root"] / "gguf" / "Modelfile").read_text().split('TEMPLATE """', 1)[1].split('"""')[0]
    messages_range = template.split("{{ range $i, $_ := .Messages }}", 1)[1]
    block = messages_range.split("{{ if and $last .Thinking }}", 1)[1].split("{{ end }}", 1)[0]
    opening, thinking, closing = block.partition("{{ .Thinking }}")
    assert thinking and opening.strip() == "<think>" and closing.strip() == "</think>"
    generation = messages_range.split('{{ if and $last (ne .Role "assistant") }}', 1)[1].split("{{ end }}", 1)[0]
    assert generation.strip().endswith(opening.strip())


def test_chinese_training_rows_tokenize_identically_in_the_gguf(trained_run, tiny_model):
    """medical-o1's zh subsets: the training prompt and completion of each Chinese row, R1's special
    tokens included, get the same ids from the GGUF's tokenizer as from the one training used."""
    from transformers import AutoTokenizer

    from common.chat_format import ChatFormat
    from convert import parity

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    chat = ChatFormat.of_tokenizer(tokenizer)
    samples = [parity.HeldOut(row["Question"], *chat.training_pair(row["Question"], row["Complex_CoT"], row["Response"]))
               for row in chinese_rows()]
    assert len(samples) >= 12
    assert parity.tokenization_mismatches(tokenizer, trained_run["root"] / "gguf" / "session-f16.gguf", samples) == []


@pytest.mark.parametrize("model", ["tiny", "smollm2"])
def test_the_modelfile_template_renders_conversations_as_the_chat_template_does(model, tiny_model):
    """The Go template's pieces, read off the Jinja template by probing, rebuild its rendering of
    conversations it was not probed with (R1's and ChatML's)."""
    from transformers import AutoTokenizer

    from common.chat_format import ChatFormat
    from convert.modelfile import template_pieces
    from tests.conftest import smollm2_model

    tokenizer = AutoTokenizer.from_pretrained(tiny_model if model == "tiny" else smollm2_model())
    chat = ChatFormat.of_tokenizer(tokenizer)
    bos = tokenizer.bos_token if model == "tiny" else None  # llama.cpp adds R1's BOS itself
    pieces = template_pieces(chat, bos)
    for turns in (1, 3, 5):
        conversation = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}: fever?\nyes."}
                        for i in range(turns)]
        expected = chat.render(conversation, True)
        assert pieces.render(conversation) == (expected.removeprefix(bos) if bos else expected)


def test_a_rerun_skips_unchanged_steps(trained_run):
    gguf = trained_run["root"] / "gguf"
    before = {p.name: p.stat().st_mtime_ns for p in [*gguf.glob("*.gguf"), gguf / "parity.json"]}
    result = run_cli("convert", "--config", str(TINY), *trained_run["overrides"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("unchanged") >= 6 and "parity: unchanged" in result.stdout
    assert "parity ladder" in result.stdout  # the kept report is still shown
    assert {p.name: p.stat().st_mtime_ns for p in [*gguf.glob("*.gguf"), gguf / "parity.json"]} == before
    assert json.loads((gguf / "manifest.json").read_text())["parity"]["passed"]


def test_shard_wise_merge_equals_peft_merge(trained_run, tiny_model, tmp_path):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from convert.base_weights import BaseWeights
    from convert.merge import merge_adapter

    adapter = trained_run["root"] / "adapter"
    out = tmp_path / "merged"
    out.mkdir()
    figures = merge_adapter(BaseWeights(tiny_model), adapter, out, "float32", max_shard_bytes=40_000_000)
    assert figures["shards"] > 1 and (out / "model.safetensors.index.json").is_file()
    index = json.loads((out / "model.safetensors.index.json").read_text())["weight_map"]
    ours = {}
    for shard in set(index.values()):
        ours.update(load_file(out / shard))
    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    reference = PeftModel.from_pretrained(base, adapter).merge_and_unload().state_dict()
    for name, tensor in reference.items():
        assert torch.allclose(ours[name], tensor, atol=1e-5), name


def test_merge_onto_weights_quantized_at_load_time(trained_run, tiny_model, tmp_path):
    """Modules that were 4-bit in training go through NF4 and back; the others stay as stored."""
    from safetensors.torch import load_file

    from convert.base_weights import BaseWeights, nf4_round_trip
    from convert.merge import merge_adapter, read_adapter

    adapter = trained_run["root"] / "adapter"
    out = tmp_path / "merged"
    out.mkdir()
    four_bit = frozenset({"model.layers.0.self_attn.q_proj"})
    merge_adapter(BaseWeights(tiny_model, round_trip=four_bit), adapter, out, "float32")
    merged = load_file(out / "model.safetensors")
    base = load_file(tiny_model / "model.safetensors")
    updates, _, _ = read_adapter(adapter)
    name, kept = "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight"
    expected = nf4_round_trip(base[name], "cpu").float() + updates[name].delta()
    assert torch.allclose(merged[name], expected, atol=1e-5)
    assert not torch.allclose(merged[name], base[name].float() + updates[name].delta(), atol=1e-4)
    assert torch.allclose(merged[kept], base[kept].float() + updates[kept].delta(), atol=1e-5)


def test_merge_in_memory_equals_the_written_merge_on_either_base(trained_run, tiny_model, tmp_path):
    from safetensors.torch import load_file

    from convert.base_weights import BaseWeights
    from convert.merge import merge_adapter
    from convert.reference import merged_in_memory

    adapter = trained_run["root"] / "adapter"
    four_bit = frozenset(f"model.layers.{i}.mlp.down_proj" for i in range(4))
    for round_trip in (frozenset(), four_bit):
        out = tmp_path / f"merged-{len(round_trip)}"
        out.mkdir()
        merge_adapter(BaseWeights(tiny_model, round_trip=round_trip), adapter, out, "float32")
        written = load_file(out / "model.safetensors")
        model = merged_in_memory(BaseWeights(tiny_model, round_trip=round_trip), adapter, torch.float32, "cpu")
        for name, tensor in model.state_dict().items():
            assert torch.allclose(written[name], tensor, atol=1e-6), (len(round_trip), name)


def test_bad_convert_inputs_stop_with_one_line(trained_run, tmp_path):
    runs = tmp_path / "runs"
    assert_user_error(run_cli("convert", "--config", str(TINY), f"runs_dir={runs}"), "make train")
    half = runs / "tiny-cpu" / "adapter"
    half.mkdir(parents=True)
    (half / "adapter_config.json").write_text("{}")
    assert_user_error(run_cli("convert", "--config", str(TINY), f"runs_dir={runs}"), "half-written")
    mismatch = run_cli("convert", "--config", str(TINY), *trained_run["overrides"], "model.id=/tmp/other-model")
    assert_user_error(mismatch, "trained on")
    assert_user_error(run_cli("convert", "--config", str(TINY), "convert.quant_types=[q3_k_xs]"), "quant_types")
    assert not list(runs.rglob("*.gguf"))


def test_too_little_disk_is_refused_before_writing(tmp_path):
    from common.artifacts import require_free_disk
    from common.errors import UserError

    with pytest.raises(UserError, match="not enough disk"):
        require_free_disk(tmp_path, 10**18, "the merged model")


def _scores(logits, item):
    from convert import parity

    return parity.Scores([torch.log_softmax(logits, dim=-1)], [item])


def test_parity_gate_reads_top1_where_the_reference_is_decided_and_kl_everywhere():
    from convert import parity
    from convert.ladder import gate_failures

    generator = torch.Generator().manual_seed(0)
    positions, vocab = 400, 1000
    item = parity.Encoded(ids=list(range(positions + 1)), prompt_len=1)
    # a near-flat reference (like a random-weight model): rounding-size noise swaps its argmax
    flat = torch.randn(positions, vocab, generator=generator) * 0.01
    rounded = flat + torch.randn(positions, vocab, generator=generator) * 1e-3
    comparison = parity.compare(_scores(flat, item), _scores(rounded, item))
    assert comparison["top1_agreement"] < 0.9 and comparison["decided_positions"] == 0
    assert gate_failures("f16 vs merged", comparison, 0.98, 0.01) == []

    # a peaked reference: the same noise changes nothing, a broken export fails both gates
    peaked = flat.clone()
    peaked[torch.arange(positions), torch.arange(positions) % vocab] += 5.0
    same = parity.compare(_scores(peaked, item), _scores(peaked + (rounded - flat), item))
    assert same["decided_positions"] == positions and same["decided_top1_agreement"] == 1.0
    assert gate_failures("f16 vs merged", same, 0.98, 0.01) == []
    broken = parity.compare(_scores(peaked, item), _scores(peaked.roll(1, dims=1), item))
    failures = gate_failures("f16 vs merged", broken, 0.98, 0.01)
    assert len(failures) == 2 and "top-1 agreement 0.0000" in failures[0] and "mean KL" in failures[1]
