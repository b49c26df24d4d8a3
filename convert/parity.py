"""The parity ladder: the same teacher-forced held-out text scored by each artifact in turn.

(a) base + adapter in PyTorch -> (b) merged model in PyTorch -> (c) f16 GGUF in llama.cpp ->
(d) each quantized GGUF. Each step is compared with the one before it and with (a): top-1
agreement of the next-token prediction, mean KL(previous || step) over the vocabulary, mean
absolute difference of the log-probability of the actual next token, and perplexity of the
reference completion. Only positions that predict completion tokens are scored.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.chat_format import ChatFormat
from common.errors import UserError
from convert.gguf_export import native_stderr_to


@dataclass(frozen=True)
class HeldOut:
    question: str
    prompt: str
    completion: str


@dataclass
class Encoded:
    ids: list[int]
    prompt_len: int

    @property
    def targets(self) -> np.ndarray:
        return np.asarray(self.ids[self.prompt_len:], dtype=np.int64)


def load_heldout(path: Path, limit: int) -> list[HeldOut]:
    if not path.is_file():
        raise UserError(f"{path} is missing: the adapter was written without held-out rows for the parity check")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if rows and "question" not in rows[0]:
        raise UserError(f"{path} was written by an older version (no question per row); train the adapter again")
    return [HeldOut(row["question"], row["prompt"], row["completion"]) for row in rows[:limit]]


def encode(tokenizer, sample: HeldOut, max_tokens: int) -> Encoded:
    prompt_ids = tokenizer(sample.prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(sample.completion, add_special_tokens=False)["input_ids"]
    ids = (prompt_ids + completion_ids)[: len(prompt_ids) + max_tokens]
    return Encoded(ids=ids, prompt_len=len(prompt_ids))


def completion_logprobs(logits, item: Encoded):
    """Log-probs (float32 tensor) at the positions that predict the completion: [n_completion, vocab]."""
    import torch

    logits = torch.as_tensor(logits)[item.prompt_len - 1: len(item.ids) - 1].float()
    return torch.log_softmax(logits, dim=-1)


def torch_scores(model, items: list[Encoded]) -> list[np.ndarray]:
    import torch

    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for item in items:
            ids = torch.tensor([item.ids], device=device)
            logits = model(input_ids=ids, use_cache=False).logits[0].float().cpu()
            out.append(completion_logprobs(logits, item))
    return out


def llama_cpp_scores(gguf: Path, items: list[Encoded], threads: int | None, gpu_layers: int,
                     log: Path | None = None) -> list[np.ndarray]:
    """llama.cpp's log-probs; in a child process when this one holds a CUDA context, so that a
    crash in llama.cpp (one took the 8B parity run down with no trace) ends with a message and
    its log instead of killing the convert stage."""
    import torch

    if not torch.cuda.is_initialized():
        return [torch.from_numpy(scores) for scores in _llama_cpp_scores(gguf, items, threads, gpu_layers, log)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            scores = pool.submit(_llama_cpp_scores, gguf, items, threads, gpu_layers, log).result()
            return [torch.from_numpy(score) for score in scores]
        except BrokenProcessPool:
            raise UserError(f"llama.cpp crashed while scoring {gguf.name}; its log: {log or 'not kept'}") from None


def _completion_logprobs_numpy(logits: np.ndarray, item: Encoded) -> np.ndarray:
    rows = logits[item.prompt_len - 1: len(item.ids) - 1].astype(np.float32)
    shifted = rows - rows.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _llama_cpp_scores(gguf: Path, items: list[Encoded], threads: int | None, gpu_layers: int,
                      log: Path | None) -> list[np.ndarray]:
    """In numpy, without torch: a process that loads llama.cpp's CUDA libraries and then torch's
    (its own copies of the same CUDA libraries) segfaults."""
    from llama_cpp import Llama

    longest = max(len(item.ids) for item in items)
    with native_stderr_to(log or Path(os.devnull)):
        model = Llama(str(gguf), n_ctx=longest + 8, n_batch=longest + 8, n_ubatch=longest + 8, logits_all=True,
                      n_threads=threads, n_gpu_layers=gpu_layers, verbose=False, seed=0)
    out = []
    try:
        for item in items:
            model.reset()
            model.eval(item.ids)
            out.append(_completion_logprobs_numpy(np.array(model.scores[: len(item.ids)], dtype=np.float32), item))
    finally:
        model.close()
    return out


class Scores:
    """One artifact's log-probs over the held-out rows, with what comparisons reuse computed once."""

    def __init__(self, logprobs: list, items: list[Encoded]) -> None:
        import torch

        self.logprobs = logprobs
        self.top1 = [lp.argmax(-1) for lp in logprobs]
        self.target_logp = [lp.gather(1, torch.as_tensor(item.targets)[:, None])[:, 0].double()
                            for lp, item in zip(logprobs, items, strict=True)]
        self._probs = None

    @property
    def probs(self) -> list:
        if self._probs is None:
            self._probs = [lp.exp() for lp in self.logprobs]
        return self._probs

    def perplexity(self) -> float:
        nll = -sum(float(t.sum()) for t in self.target_logp)
        return math.exp(nll / sum(t.shape[0] for t in self.target_logp))


# A position is "decided" when the reference's best token leads the runner-up by this many nats.
# Where it does not, rounding alone can swap the two (a random-weight model predicts almost
# uniformly, so there top-1 agreement measures noise); the gate reads top-1 on decided positions.
DECIDED_MARGIN = 0.1


def compare(reference: Scores, other: Scores) -> dict:
    """Top-1 agreement (on all positions, and on decided ones), mean KL(reference || other) and
    mean |Δ log p(actual token)| per position."""
    agree = total = decided_agree = decided = 0
    kl_sum = dlogp_sum = 0.0
    for index, (ref, oth) in enumerate(zip(reference.logprobs, other.logprobs, strict=True)):
        same = reference.top1[index] == other.top1[index]
        best_two = ref.topk(2, dim=-1).values
        sure = (best_two[:, 0] - best_two[:, 1]) >= DECIDED_MARGIN
        agree += int(same.sum())
        decided_agree += int((same & sure).sum())
        decided += int(sure.sum())
        total += ref.shape[0]
        # rows summed in float32 (128k terms), positions accumulated in float64
        kl_sum += float((reference.probs[index] * (ref - oth)).sum(-1).double().sum())
        dlogp_sum += float((reference.target_logp[index] - other.target_logp[index]).abs().sum())
    return {"top1_agreement": agree / total, "decided_positions": decided,
            "decided_top1_agreement": decided_agree / decided if decided else None,
            "mean_kl": kl_sum / total, "mean_abs_dlogp": dlogp_sum / total}


def tokenization_mismatches(tokenizer, gguf: Path, samples: list[HeldOut]) -> list[dict]:
    """Prompt and completion token ids in PyTorch and in the GGUF's own tokenizer must be identical."""
    from llama_cpp import Llama

    with native_stderr_to(Path(os.devnull)):
        vocab = Llama(str(gguf), vocab_only=True, verbose=False)
    mismatches = []
    try:
        for index, sample in enumerate(samples):
            for part in ("prompt", "completion"):
                text = getattr(sample, part)
                hf = tokenizer(text, add_special_tokens=False)["input_ids"]
                cpp = vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True)
                if hf != cpp:
                    first = next((i for i, (a, b) in enumerate(zip(hf, cpp, strict=False)) if a != b), min(len(hf), len(cpp)))
                    mismatches.append({"sample": index, "part": part, "first_difference_at": first,
                                       "pytorch": hf[first:first + 5], "gguf": cpp[first:first + 5]})
    finally:
        vocab.close()
    return mismatches


def chat_prompt_check(gguf: Path, questions: list[str], tokenizer) -> dict:
    """The GGUF's embedded chat template, rendered as llama-cpp-python renders it (`make chat`),
    must produce the prompt training used (the tokenizer's template), with one BOS at most.
    llama-server renders with its own engine; tests/pipeline/test_server.py holds it to the same."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    with native_stderr_to(Path(os.devnull)):
        vocab = Llama(str(gguf), vocab_only=True, verbose=False)
    try:
        template = vocab.metadata.get("tokenizer.chat_template")
        if not template:
            return {"identical": False, "reason": "the GGUF carries no chat template"}
        bos = vocab._model.token_get_text(vocab.token_bos())
        eos = vocab._model.token_get_text(vocab.token_eos())
        formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        chat = ChatFormat.of_tokenizer(tokenizer)
        for question in questions:
            messages = [{"role": "user", "content": question}]
            rendered = formatter(messages=messages)
            expected = chat.prompt(question)
            if rendered.prompt != expected:
                return {"identical": False, "reason": "template output differs", "gguf": rendered.prompt[:200],
                        "pipeline": expected[:200]}
            ids = vocab.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
            if ids[:2] == [vocab.token_bos()] * 2:
                return {"identical": False, "reason": "double BOS in the served prompt"}
        return {"identical": True, "bos_tokens_at_start": int(ids[:1] == [vocab.token_bos()]),
                "questions": len(questions)}
    finally:
        vocab.close()
