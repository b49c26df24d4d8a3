"""Complex_CoT: first-person exploratory reasoning that weighs one wrong option and settles on the answer."""

from __future__ import annotations

import random

from .text import cap, join, leading, words

OPENERS = ["Okay, so we have {d} with {f}.", "Alright, let's see. {D} comes in with {f}.",
           "Okay, let me lay out what we have: {d} with {f}.",
           "So, {d} showing up with {f}. Let me think this through."]
KEY_NOTES = ["And the workup shows {k}. That feels important.", "Then there's {k}, which really stands out.",
             "Oh, and there's {k} too. That's a big clue."]
HUNCHES = ["Hmm, putting {f0} together with {f1}, my mind goes to {dx}.",
           "Hmm, this combination sounds a lot like {dx}.",
           "Let me think about what ties all of this together... {dx} fits really well."]
STATED = ["The question already tells me it's {dx}, and the picture fits.",
          "So this is {dx}; the findings match that."]


def _musing(qtype: str, cond: dict, other: dict, letter: str | None) -> list[str]:
    dx, odx = cond["diagnosis"], other["diagnosis"]
    if qtype == "diagnosis":
        if letter:
            return [f"Option {letter}, {odx}, crossed my mind, but {dx} is the one classically linked to "
                    f"{cond['key_finding']}."]
        return [f"Could it be {odx}? Hmm, I don't think that fits as well; {dx} is the condition classically "
                f"linked to {cond['key_finding']}."]
    if qtype == "key_finding":
        lead = f"Option {letter}, {other['key_finding']}, is tempting" if letter else \
            f"Wait, what about {other['key_finding']}? That's tempting"
        return [f"Now, what would I expect to find? In {dx}, the classic finding is {cond['key_finding']}.",
                f"{lead}, but that goes with {odx}, not this picture."]
    if qtype == "next_step":
        lead = f"What about option {letter}, {other['next_step']}?" if letter else \
            f"So what's the best move now? {cap(other['next_step'])}?"
        return [f"{lead} No, that's the approach for {odx}.", f"Here the right step is {cond['next_step']}."]
    if qtype == "treatment":
        lead = f"Option {letter}, {other['treatment']}," if letter else f"Now for treatment. {cap(other['treatment'])}"
        return [f"{lead} would be for {odx}, so that's out.", f"For {dx}, first-line is {cond['treatment']}."]
    lead = f"Option {letter} describes {other['mechanism']}" if letter else \
        f"It could sound like {other['mechanism']}"
    return [f"And what's actually going on underneath? {lead}, but wait, that's the story in {odx}.",
            f"In {dx}, the problem is {cond['mechanism']}."]


def _conclusion(qtype: str, cond: dict, rng: random.Random, answer: str | None, text: str | None) -> str:
    if answer:
        return rng.choice([f"So, looking at the options, the answer is {answer}: {text}.",
                           f"I'm going with {answer}, {text}.", f"So the best choice is {answer}, {text}."])
    return {
        "diagnosis": rng.choice([f"So, putting it all together, the most likely diagnosis is {cond['diagnosis']}.",
                                 f"Yeah, I'm fairly confident this is {cond['diagnosis']}."]),
        "key_finding": f"So the finding I'd expect is {cond['key_finding']}.",
        "next_step": f"So the best next step is {cond['next_step']}.",
        "treatment": f"So the first-line treatment is {cond['treatment']}.",
        "mechanism": f"So the underlying mechanism is {cond['mechanism']}.",
    }[qtype]


def write_cot(case: dict, rng: random.Random, other: dict, answer: str | None = None,
              text: str | None = None, other_letter: str | None = None) -> str:
    """First-person exploratory reasoning, 50-130 words, consistent with the knowledge base."""
    cond, qtype, feats = case["cond"], case["qtype"], case["feats"]
    d = case["demo"]["phrase"]
    opener = rng.choice(OPENERS)
    key_note = [rng.choice(KEY_NOTES).format(k=cond["key_finding"])] if case["show_key"] else []
    if case["dx_stated"]:
        hunch = rng.choice(STATED).format(dx=cond["diagnosis"])
    else:
        f0, f1 = leading(cond, feats)
        hunch = rng.choice(HUNCHES).format(f0=f0, f1=f1, dx=cond["diagnosis"])
    musing = _musing(qtype, cond, other, other_letter)
    extras = []
    if qtype != "mechanism":
        extras.append(f"If I remember right, the underlying problem is {cond['mechanism']}.")
    if qtype not in ("next_step", "treatment"):
        extras.append(f"Practically, the next step would be {cond['next_step']}.")
    if answer:
        extras.append("Let me double-check the other options once more... none of them fits as well.")
    end = _conclusion(qtype, cond, rng, answer, text)
    # Shorter variants are tried only when a fuller one falls outside 50-130 words.
    heads = [[opener.format(d=d, D=cap(d), f=join(feats))] + key_note,
             [opener.format(d=d, D=cap(d), f=join(feats))],
             [opener.format(d=d, D=cap(d), f=join(feats[:3]))]]
    start = rng.randint(0, len(extras))
    for head in heads:
        for body in ([hunch] + musing, musing):
            for n_extra in list(range(start, len(extras) + 1)) + list(range(start - 1, -1, -1)):
                cot = " ".join(head + body + extras[:n_extra] + [end])
                if 50 <= words(cot) <= 130:
                    return cot
    raise RuntimeError(f"no CoT within 50-130 words for {cond['diagnosis']} ({qtype})")

