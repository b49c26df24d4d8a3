"""Bring your own data: the columns, messages and ShareGPT formats, single and multi-turn, read
into the same training examples; the trained tokens of each assistant turn; the data report; and
bad records counted rather than fatal. Tokenizers only, no model weights."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from common.chat_format import ChatFormat
from common.config import load_config
from common.conversations import read_conversation
from tests.conftest import SMOLLM2, TINY, assert_user_error, run_cli, smollm2_model
from train.data import prepare_sft_data
from train.examples import RECORD

COLUMNS = {"question": "Question", "reasoning": "Complex_CoT", "response": "Response"}
SYSTEM = "You are a careful clinician."
# Three exchanges: the reasoning of each answer in a different place the formats allow.
EXCHANGES = [("A 60-year-old smoker has painless haematuria. First test?", "Painless haematuria in a smoker: "
              "think bladder cancer.", "Cystoscopy."),
             ("And if the cystoscopy is normal?", "Then image the upper tract.", "CT urography."),
             ("Which blood test alongside?", "Kidney function before contrast.", "Creatinine and eGFR.")]


def as_messages(exchanges, system=None, style="think"):
    messages = [{"role": "system", "content": system}] if system else []
    for question, reasoning, answer in exchanges:
        messages.append({"role": "user", "content": question})
        if style == "think":
            messages.append({"role": "assistant", "content": f"<think>\n{reasoning}\n</think>\n\n{answer}"})
        else:
            messages.append({"role": "assistant", "content": answer, style: reasoning})
    return {"messages": messages}


def as_sharegpt(exchanges, system=None, names=("human", "gpt")):
    turns = [{"from": "system", "value": system}] if system else []
    for question, reasoning, answer in exchanges:
        turns += [{"from": names[0], "value": question},
                  {"from": names[1], "value": f"<think>{reasoning}</think>{answer}"}]
    return {"conversations": turns}


def as_columns(exchange):
    question, reasoning, answer = exchange
    return {"Question": question, "Complex_CoT": reasoning, "Response": answer}


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_model):
    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    return AutoTokenizer.from_pretrained(smollm2_model())


def test_every_format_reads_into_the_same_conversation():
    expected = [{"role": "system", "content": SYSTEM, "reasoning": ""}]
    for question, reasoning, answer in EXCHANGES:
        expected += [{"role": "user", "content": question, "reasoning": ""},
                     {"role": "assistant", "content": answer, "reasoning": reasoning}]
    records = [("messages", as_messages(EXCHANGES, SYSTEM)),
               ("messages", as_messages(EXCHANGES, SYSTEM, "reasoning_content")),
               ("messages", as_messages(EXCHANGES, SYSTEM, "reasoning")),
               ("sharegpt", as_sharegpt(EXCHANGES, SYSTEM)),
               ("sharegpt", as_sharegpt(EXCHANGES, SYSTEM, ("user", "assistant")))]
    for fmt, record in records:
        assert read_conversation(record, fmt, COLUMNS) == expected, (fmt, record)
    assert read_conversation(as_columns(EXCHANGES[0]), "columns", COLUMNS) == expected[1:3]
    # R1's own output after a prefilled <think>: only the closing tag
    record = {"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "hmm\n</think>\n\nA."}]}
    assert read_conversation(record, "messages", COLUMNS)[1] == {"role": "assistant", "content": "A.", "reasoning": "hmm"}


@pytest.mark.parametrize("fmt", ["columns", "messages", "sharegpt"])
def test_the_format_is_detected_and_printed_once(fmt, tmp_path, tiny_tokenizer, capsys):
    records = {"columns": [as_columns(e) for e in EXCHANGES], "messages": [as_messages([e]) for e in EXCHANGES],
               "sharegpt": [as_sharegpt([e]) for e in EXCHANGES]}[fmt]
    data = write_jsonl(tmp_path / "rows.jsonl", records)
    config = load_config(TINY, [f"data.source={data}", "data.replay=null", "data.validation_fraction=0"])
    prepared = prepare_sft_data(config.data, tiny_tokenizer, 512)
    assert capsys.readouterr().out.count(f"data format: {fmt} (detected)") == 1
    assert prepared.counts["train_rows_kept"] == 3 and len(prepared.train) == 3


@pytest.mark.parametrize("model", ["tiny", "smollm2"])
def test_each_assistant_turn_trains_on_its_own_turn_after_exactly_the_served_prompt(
        model, tmp_path, tiny_tokenizer, smollm2_tokenizer, capsys):
    """Multi-turn: one example per assistant turn; its prompt tokens are the chat template's own
    rendering of the conversation before it with the generation prompt (what a server renders when
    a client sends the history back), its trained tokens that turn's thinking, answer and end."""
    tokenizer = tiny_tokenizer if model == "tiny" else smollm2_tokenizer
    chat = ChatFormat.of_tokenizer(tokenizer)
    record = as_messages(EXCHANGES, SYSTEM)
    data = write_jsonl(tmp_path / "chat.jsonl", [record, as_messages(EXCHANGES[:1])])
    config = load_config(TINY if model == "tiny" else SMOLLM2,
                         [f"data.source={data}", "data.replay=null", "data.validation_fraction=0"])
    prepared = prepare_sft_data(config.data, tokenizer, 1024)
    kept = prepared.parts["train"].kept
    assert prepared.counts["train_examples"] == 4 and prepared.counts["train_system_prompts"] == 1
    examples = [row for row in kept if row[RECORD] == 1]
    assert [example["turn"] for example in examples] == [2, 4, 6]
    for example in examples:
        turn = example["turn"]
        history = [{"role": m["role"], "content": m["content"].split("</think>")[-1].strip()}
                   for m in record["messages"][:turn]]
        served = tokenizer.apply_chat_template(history, add_generation_prompt=True)["input_ids"]
        prompt_len = example["completion_mask"].index(1)
        assert example["input_ids"][:prompt_len] == served
        assert set(example["completion_mask"][prompt_len:]) == {1}
        trained = tokenizer.decode(example["input_ids"][prompt_len:])
        question, reasoning, answer = EXCHANGES[(turn - 2) // 2]
        opening = "" if chat.think_prefilled else "<think>\n"
        assert trained == f"{opening}{reasoning}\n</think>\n\n{answer}{chat.turn_end}"
        # earlier answers reach the prompt as answers only; no earlier thinking is in it or trained
        prompt = tokenizer.decode(example["input_ids"][:prompt_len])
        assert all(r not in prompt for _, r, _ in EXCHANGES) and SYSTEM in prompt
        assert all(r not in trained for _, r, _ in EXCHANGES if r != reasoning)
    warned = "chat template pastes it in before the first turn without a role marker" in capsys.readouterr().out
    assert warned == (model == "tiny")
    assert chat.system_prompts == ("bare" if model == "tiny" else "framed")


def test_assistant_turns_without_reasoning_train_an_empty_think_block(tmp_path, tiny_tokenizer):
    """A messages turn without reasoning is kept with an empty think block, and counted; in the
    columns format the named reasoning column must be filled."""
    plain = {"messages": [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris."}]}
    data = write_jsonl(tmp_path / "plain.jsonl", [plain])
    config = load_config(TINY, [f"data.source={data}", "data.replay=null", "data.validation_fraction=0"])
    prepared = prepare_sft_data(config.data, tiny_tokenizer, 512)
    example = prepared.parts["train"].kept[0]
    trained = tiny_tokenizer.decode(example["input_ids"][example["completion_mask"].index(1):])
    assert trained == "\n</think>\n\nParis.<｜end▁of▁sentence｜>"
    assert prepared.counts["train_turns_without_reasoning"] == 1
    data = write_jsonl(tmp_path / "columns.jsonl", [as_columns(EXCHANGES[0]), {**as_columns(EXCHANGES[1]),
                                                                                "Complex_CoT": ""}])
    config = load_config(TINY, [f"data.source={data}", "data.replay=null", "data.validation_fraction=0"])
    prepared = prepare_sft_data(config.data, tiny_tokenizer, 512)
    assert (prepared.counts["train_rows_kept"], prepared.counts["train_dropped_empty"]) == (1, 1)
    assert prepared.parts["train"].drops["empty"] == [{"record": 2, "detail": "'Complex_CoT' is empty"}]


BAD_RECORDS = [
    as_messages(EXCHANGES),                                                     # 1 kept (3 turns)
    as_messages(EXCHANGES[1:2]),                                                # 2 kept
    as_messages(EXCHANGES),                                                     # 3 duplicate of 1
    {"messages": "Cystoscopy."},                                                # 4 bad type
    {"conversation": [{"role": "user", "content": "Q?"}]},                      # 5 missing field
    {"messages": [{"role": "user", "content": "Anyone there?"}]},               # 6 no assistant turn
    {"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "<think>hm</think>"}]},  # 7 empty
    {"messages": [{"role": "user", "content": "long " * 700}, {"role": "assistant", "content": "A."}]},  # 8 too long
    "this line is not JSON",                                                    # 9 bad type
    {"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "A."}]},  # 10 bad type
]


def test_the_report_counts_every_record_and_draws_the_lengths(tmp_path):
    data = write_jsonl(tmp_path / "mixed.jsonl", BAD_RECORDS)
    runs = tmp_path / "runs"
    result = run_cli("train", "report", "--config", str(TINY), f"runs_dir={runs}", "name=byod", f"data.source={data}",
                     "data.replay=null", "data.validation_fraction=0", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "data format: messages (detected)" in result.stdout
    folder = runs / "byod" / "data-report"
    assert sorted(p.name for p in folder.iterdir()) == ["lengths.png", "report.html", "summary.json"]
    summary = json.loads((folder / "summary.json").read_text())
    counts = summary["counts"]
    assert counts["records_read"] == 10 and counts["train_rows_kept"] == 2 and counts["train_examples"] == 4
    dropped = {reason: counts[f"train_dropped_{reason}"] for reason in
               ("missing_field", "bad_type", "empty", "no_assistant_turn", "duplicate", "too_long")}
    assert dropped == {"missing_field": 1, "bad_type": 3, "empty": 1, "no_assistant_turn": 1, "duplicate": 1,
                       "too_long": 1}
    examples = {reason: [e["record"] for e in entry["examples"]] for reason, entry in summary["drops"]["train"].items()}
    assert examples == {"missing_field": [5], "bad_type": [4, 9, 10], "empty": [7], "no_assistant_turn": [6],
                        "duplicate": [3], "too_long": [8]}
    assert summary["drops"]["train"]["duplicate"]["examples"][0]["detail"] == "same as record 1"
    assert summary["summary_line"] in result.stdout and "dropped 8 (" in summary["summary_line"]
    plan = summary["projection"]
    assert plan["tokens_per_epoch"] > plan["trained_tokens_per_epoch"] > 0 and plan["steps_per_epoch"] >= 1
    assert summary["lengths"]["total_tokens"]["max"] > 512 and summary["longest"][0]["too_long"]
    assert summary["example"]["turn"] > 1  # a later turn of a conversation is the one shown
    png = (folder / "lengths.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    from PIL import Image

    with Image.open(folder / "lengths.png") as image:
        assert image.width > 400 and image.height > 100
    page = (folder / "report.html").read_text()
    assert "<mark>" in page and "data:image/png;base64," in page and "same as record 1" in page


def test_nothing_usable_stops_with_one_line_and_no_artifact(tmp_path):
    columns_file = write_jsonl(tmp_path / "columns.jsonl", [as_columns(e) for e in EXCHANGES])
    runs = tmp_path / "runs"
    common = ["--config", str(TINY), f"runs_dir={runs}", "name=bad", "data.replay=null", "data.validation_fraction=0"]
    # a file that is not what data.format says: the training run stops before anything is written
    result = run_cli("train", *common, f"data.source={columns_file}", "data.format=messages", "train.max_steps=1",
                     timeout=300)
    assert_user_error(result, "no usable training record", "missing field 3", "look like columns")
    assert not runs.exists()
    # the report describes such data in full, then stops the same way
    broken = write_jsonl(tmp_path / "broken.jsonl", BAD_RECORDS[3:7] + ["not JSON either"])
    result = run_cli("train", "report", *common, f"data.source={broken}", timeout=300)
    assert_user_error(result, "no usable training record", "5 read", "bad type 2")
    summary = json.loads((runs / "bad" / "data-report" / "summary.json").read_text())
    assert not summary["usable"] and summary["counts"]["train_dropped_no_assistant_turn"] == 1
    assert not [p for p in (runs / "bad").iterdir() if p.name != "data-report"]


def test_eval_reads_held_out_questions_in_any_format(tmp_path):
    from eval.tasks import task_items

    data = write_jsonl(tmp_path / "share.jsonl", [as_sharegpt([e]) for e in EXCHANGES] * 4)
    config = load_config(TINY, [f"data.source={data}", "data.validation_fraction=0.25", "eval.tasks=[open_ended]"])
    items = task_items(config, "open_ended")
    assert len(items) == 3 and {(i.question, i.reference) for i in items} <= {(q, a) for q, _, a in EXCHANGES}
