"""Write the offline data set under data/ from the hand-written knowledge base.

    python tools/write_offline_data.py            # writes data/*.jsonl and data/README.md
    python tools/write_offline_data.py --check    # exit 1 if a file differs from what it would write

Deterministic (random.Random with a fixed seed; PyYAML reads the knowledge base). Every row is synthetic,
composed from data/knowledge/conditions.yaml and the templates below; nothing is copied from any
data set, and nothing here is clinical advice.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.reasoning import format_choice_question  # noqa: E402
from tools.offline_data.knowledge import load_conditions  # noqa: E402

CONDITIONS = load_conditions()

SEED = 20250611
N_EVAL, N_TRAIN, N_SFT_MC, N_SFT_OPEN = 132, 220, 172, 172
QTYPES = ("diagnosis", "key_finding", "next_step", "treatment", "mechanism")
FIELD = {"diagnosis": "diagnosis", "key_finding": "key_finding", "next_step": "next_step",
         "treatment": "treatment", "mechanism": "mechanism"}
LETTERS = ("A", "B", "C", "D")
# Pairs never used as each other's distractors outside diagnosis questions: the other's
# answer would also be defensible (both biopsies, both SSRIs, both pinpoint pupils, ...).
CONFLICTS = [
    {"melanoma", "basal cell carcinoma"}, {"asthma", "chronic obstructive pulmonary disease"},
    {"opioid overdose", "organophosphate poisoning"}, {"rheumatoid arthritis", "systemic lupus erythematosus"},
    {"major depressive disorder", "generalized anxiety disorder"},
    {"schizophrenia", "bipolar I disorder, manic episode"},
    {"atrial fibrillation", "hypertrophic cardiomyopathy"}, {"placenta previa", "placental abruption"},
    {"plaque psoriasis", "atopic dermatitis"}, {"myasthenia gravis", "Guillain-Barre syndrome"},
]


# ----------------------------------------------------------------------------- text helpers

def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def join(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


def leading(cond: dict, feats: list[str]) -> list[str]:
    """The two shown features listed first in the knowledge base (its most telling ones)."""
    return sorted(feats, key=cond["features"].index)[:2]


def words(text: str) -> int:
    return len(text.split())


def article(age_word: str) -> str:
    number = age_word.split("-")[0]
    return "an" if number.startswith("8") or number in ("11", "18") else "a"


# ----------------------------------------------------------------------------- vignettes

# Conditions that arrive at an emergency department; the rest are seen in clinic.
ACUTE = {
    "inferior ST-elevation myocardial infarction", "acute aortic dissection", "acute pericarditis",
    "pulmonary embolism", "tension pneumothorax", "ureteral stone (nephrolithiasis)", "acute cholecystitis",
    "acute appendicitis", "diabetic ketoacidosis", "acute ischemic stroke in the left middle cerebral artery territory",
    "subarachnoid hemorrhage", "Guillain-Barre syndrome", "bacterial meningitis", "tricuspid valve infective endocarditis",
    "pneumococcal community-acquired pneumonia", "sickle cell disease with vaso-occlusive crisis",
    "preeclampsia with severe features", "ectopic pregnancy", "placenta previa", "placental abruption",
    "ovarian torsion", "hypertrophic pyloric stenosis", "intussusception", "croup (laryngotracheobronchitis)",
    "RSV bronchiolitis", "Kawasaki disease", "bipolar I disorder, manic episode", "acute gout",
    "Stevens-Johnson syndrome", "acetaminophen overdose", "organophosphate poisoning", "opioid overdose",
    "carbon monoxide poisoning", "tricyclic antidepressant overdose", "alcohol withdrawal", "lithium toxicity",
}
VERBS = {  # (acute, who)
    (True, "adult"): ["presents to the emergency department with", "is brought to the emergency department with",
                      "presents with", "is evaluated in the emergency department for"],
    (False, "adult"): ["comes to the clinic with", "presents with", "is evaluated for",
                       "comes to the physician because of", "is seen in the office for"],
    (True, "child"): ["is brought to the emergency department with", "is brought in by a parent with",
                      "is evaluated in the emergency department for"],
    (False, "child"): ["is brought to the pediatrician because of", "is brought to the clinic by a parent because of",
                       "is evaluated for"],
    (True, "unknown"): ["presents to the emergency department with", "presents with", "is evaluated for"],
    (False, "unknown"): ["presents with", "is evaluated for", "is seen in the clinic for"],
}
KEY_SENTENCES = ["Evaluation reveals {k}.", "Workup is notable for {k}.", "Further evaluation shows {k}.",
                 "Initial assessment is notable for {k}."]


def pick_demo(cond: dict, rng: random.Random) -> dict:
    """Age and sex for one vignette; about 10% of vignettes leave both out."""
    if rng.random() < 0.12:
        return {"phrase": "a patient", "child": False, "known": False}
    lo, hi = cond["age"]
    if lo >= 2:
        years = rng.randint(math.ceil(lo), math.floor(hi))
        age_word, age = f"{years}-year-old", float(years)
    else:
        age = rng.uniform(lo, hi)
        if age < 0.25:
            age_word = f"{max(2, round(age * 52))}-week-old"
        elif age < 2:
            age_word = f"{max(3, round(age * 12))}-month-old"
        else:
            age_word = f"{int(age)}-year-old"
    sex = cond["sex"] if cond["sex"] != "any" else rng.choice(["male", "female"])
    if cond["pregnant"]:
        noun = "pregnant woman"
    elif age < 18:
        noun = "boy" if sex == "male" else "girl"
    else:
        noun = "man" if sex == "male" else "woman"
    return {"phrase": f"{article(age_word)} {age_word} {noun}", "child": age < 13, "known": True}


def vignette(cond: dict, demo: dict, feats: list[str], rng: random.Random) -> str:
    who = "child" if demo["child"] else "adult" if demo["known"] else "unknown"
    verbs = VERBS[(cond["diagnosis"] in ACUTE, who)]
    return f"{cap(demo['phrase'])} {rng.choice(verbs)} {join(feats)}."


MC_QUESTIONS = {
    "diagnosis": ["Which of the following is the most likely diagnosis?",
                  "Which of the following diagnoses best explains these findings?"],
    "key_finding": ["Which of the following findings is most likely on further evaluation?",
                    "Which of the following is most likely to be found?"],
    "next_step": ["Which of the following is the most appropriate next step?",
                  "Which of the following is the best next step in management?"],
    "treatment": ["Which of the following is the most appropriate first-line treatment?",
                  "Which of the following is the recommended initial therapy?"],
    "mechanism": ["Which of the following best describes the underlying mechanism?",
                  "Which of the following best explains the pathophysiology of this condition?"],
}
OPEN_QUESTIONS = {
    "diagnosis": ["What is the most likely diagnosis?", "What diagnosis best explains this presentation?",
                  "What is the most likely diagnosis, and why?"],
    "key_finding": ["What finding would you most expect on further evaluation?",
                    "What key finding would you expect to see in this patient?"],
    "next_step": ["What is the most appropriate next step in management?", "What should be done next?"],
    "treatment": ["What is the first-line treatment for this condition?",
                  "What is the most appropriate initial treatment?"],
    "mechanism": ["What mechanism underlies this patient's condition?",
                  "Explain the underlying mechanism of this condition."],
}


def make_case(cond: dict, qtype: str, rng: random.Random, open_ended: bool, taken: set) -> dict:
    """A stem (vignette, optional finding, question) whose signature no other row has used."""
    for _ in range(500):
        demo = pick_demo(cond, rng)
        feats_all = cond["features"]
        show_key = qtype in ("next_step", "treatment") or (qtype == "mechanism" and rng.random() < 0.7) \
            or (qtype == "diagnosis" and rng.random() < 0.6)
        # The knowledge base lists the chief complaint first and the most telling feature second.
        # Without the key finding the stem keeps both and drops at most one other feature; with
        # it, the chief complaint leads and at least two others follow.
        if show_key:
            rest = feats_all[1:]
            feats = [feats_all[0]] + rng.sample(rest, rng.randint(min(2, len(rest)), len(rest)))
        else:
            rest = feats_all[2:]
            feats = feats_all[:2] + rng.sample(rest, rng.randint(max(len(rest) - 1, min(1, len(rest))), len(rest)))
        feats = feats[:1] + rng.sample(feats[1:], len(feats) - 1)
        signature = (cond["diagnosis"], demo["phrase"], frozenset(feats))
        if signature in taken:
            continue
        parts = [vignette(cond, demo, feats, rng)]
        if show_key:
            parts.append(rng.choice(KEY_SENTENCES).format(k=cond["key_finding"]))
        dx_stated = qtype == "treatment" and rng.random() < 0.5
        if dx_stated:
            parts.append(f"A diagnosis of {cond['diagnosis']} is made.")
        questions = OPEN_QUESTIONS if open_ended else MC_QUESTIONS
        parts.append(rng.choice(questions[qtype]))
        taken.add(signature)
        return {"cond": cond, "qtype": qtype, "demo": demo, "feats": feats, "show_key": show_key,
                "dx_stated": dx_stated, "stem": " ".join(parts)}
    raise RuntimeError(f"could not find an unused vignette for {cond['diagnosis']}")


# ----------------------------------------------------------------------------- options

def _conflict(a: dict, b: dict) -> bool:
    return {a["diagnosis"], b["diagnosis"]} in CONFLICTS


def distractor_pool(cond: dict, qtype: str) -> list[dict]:
    field = FIELD[qtype]
    pool, seen = [], {cond[field].lower()}
    for other in CONDITIONS:
        if other is cond or other["system"] != cond["system"]:
            continue
        if qtype != "diagnosis" and _conflict(cond, other):
            continue
        if other[field].lower() in seen:
            continue
        seen.add(other[field].lower())
        pool.append(other)
    if len(pool) < 3:
        raise RuntimeError(f"{cond['diagnosis']} ({qtype}): fewer than 3 distractors")
    return pool


def build_options(case: dict, answer: str, rng: random.Random) -> tuple[dict, dict]:
    """Options A-D (correct text under `answer`) and the condition behind each letter."""
    cond, field = case["cond"], FIELD[case["qtype"]]
    others = rng.sample(distractor_pool(cond, case["qtype"]), 3)
    letters = [letter for letter in LETTERS if letter != answer]
    owners = {answer: cond, **dict(zip(letters, others, strict=True))}
    options = {letter: cap(owners[letter][field]) for letter in LETTERS}
    return options, owners


# ----------------------------------------------------------------------------- reasoning

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


# ----------------------------------------------------------------------------- responses

def _fit(sentences: list[str], low: int, high: int, tail: str = "") -> str:
    """The longest prefix of `sentences` (at least one) whose text plus tail is within [low, high] words."""
    for n in range(len(sentences), 0, -1):
        text = " ".join(sentences[:n]) + tail
        if low <= words(text) <= high:
            return text
    raise RuntimeError(f"no response within {low}-{high} words: {sentences[0]!r}")


def open_response(case: dict, rng: random.Random) -> str:
    c, qtype, feats = case["cond"], case["qtype"], case["feats"]
    pair = join(leading(c, feats))
    dx, key, mech, nxt, tx = c["diagnosis"], c["key_finding"], c["mechanism"], c["next_step"], c["treatment"]
    if qtype == "diagnosis":
        first = rng.choice([f"The most likely diagnosis is {dx}.", f"This presentation is most consistent with {dx}."])
        rest = [f"The combination of {pair} is characteristic, and the finding of {key} supports it.",
                f"The underlying mechanism is {mech}.", f"The best next step is {nxt}."]
    elif qtype == "key_finding":
        first = rng.choice([f"The most likely finding is {key}.", f"I would expect {key}."])
        rest = [f"The presentation with {pair} points to {dx}, in which this finding is characteristic.",
                f"The best next step would then be {nxt}."]
    elif qtype == "next_step":
        first = rng.choice([f"The best next step is {nxt}.", f"The most appropriate next step is {nxt}."])
        rest = [f"The presentation, including {key}, indicates {dx}.", f"First-line treatment is {tx}."]
    elif qtype == "treatment":
        first = rng.choice([f"First-line treatment is {tx}.", f"The most appropriate initial treatment is {tx}."])
        rest = [f"This is {dx}, which results from {mech}.", f"In practice, the immediate step is {nxt}."]
    else:
        first = rng.choice([f"The underlying mechanism is {mech}.", f"The key mechanism is {mech}."])
        rest = [f"This is {dx}, which accounts for {pair}.", f"First-line treatment is {tx}."]
    return _fit([first] + rest, 20, 80)


def mc_response(case: dict, answer: str) -> str:
    c, feats = case["cond"], case["feats"]
    sentences = [f"The correct answer is {answer}, {c[FIELD[case['qtype']]]}."]
    if case["qtype"] == "diagnosis":
        sentences.append(f"The combination of {join(leading(c, feats))} points to it, and the finding of {c['key_finding']} is characteristic.")
    else:
        sentences.append(f"The presentation, with {join(leading(c, feats))}, is most consistent with {c['diagnosis']}.")
    if case["qtype"] != "mechanism":
        sentences.append(f"The underlying mechanism is {c['mechanism']}.")
    return _fit(sentences, 20, 80, tail=f"\n\\boxed{{{answer}}}")


# ----------------------------------------------------------------------------- files

def balanced_letters(n: int, rng: random.Random) -> list[str]:
    letters = list(LETTERS) * (n // 4 + 1)
    letters = letters[:n]
    rng.shuffle(letters)
    return letters


class Plan:
    """Hands out (condition, question type) pairs in a shuffled cycle so every file covers them all."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.queue: list[tuple[dict, str]] = []

    def take(self) -> tuple[dict, str]:
        if not self.queue:
            self.queue = [(c, q) for c in CONDITIONS for q in QTYPES]
            self.rng.shuffle(self.queue)
        return self.queue.pop()


def mc_rows(prefix: str, n: int, rng: random.Random, plan: Plan, taken: set) -> list[dict]:
    rows = []
    for i, answer in enumerate(balanced_letters(n, rng), 1):
        cond, qtype = plan.take()
        case = make_case(cond, qtype, rng, open_ended=False, taken=taken)
        options, _ = build_options(case, answer, rng)
        rows.append({"id": f"{prefix}-{i:04d}", "question": case["stem"], "options": options,
                     "answer": answer, "topic": cond["system"]})
    return rows


def sft_rows(rng: random.Random, plan: Plan, taken: set) -> list[dict]:
    rows = []
    kinds = ["mc"] * N_SFT_MC + ["open"] * N_SFT_OPEN
    rng.shuffle(kinds)
    letters = iter(balanced_letters(N_SFT_MC, rng))
    for kind in kinds:
        cond, qtype = plan.take()
        case = make_case(cond, qtype, rng, open_ended=kind == "open", taken=taken)
        if kind == "open":
            other = rng.choice(distractor_pool(cond, qtype))
            rows.append({"Question": case["stem"], "Complex_CoT": write_cot(case, rng, other),
                         "Response": open_response(case, rng)})
            continue
        answer = next(letters)
        options, owners = build_options(case, answer, rng)
        other_letter = rng.choice([letter for letter in LETTERS if letter != answer])
        cot = write_cot(case, rng, owners[other_letter], answer, cond[FIELD[qtype]], other_letter)
        rows.append({"Question": format_choice_question(case["stem"], options), "Complex_CoT": cot,
                     "Response": mc_response(case, answer)})
    return rows


# ----------------------------------------------------------------------------- general replay

# Hand-written general instructions (science, geography, writing, code), kept with the
# medical data so fine-tuning does not erase ordinary skills.
GENERAL = [
    ("Why is the sky blue on a clear day?",
     "Sunlight contains all visible colors. As it passes through the atmosphere, air molecules scatter "
     "short blue wavelengths much more strongly than long red ones (Rayleigh scattering), so blue light "
     "reaches our eyes from every direction of the sky."),
    ("Explain in two or three sentences how photosynthesis works.",
     "Plants capture light energy with chlorophyll in their chloroplasts. They use that energy to split "
     "water, releasing oxygen, and to turn carbon dioxide into glucose. The sugar then fuels growth and "
     "is stored as starch."),
    ("What causes the seasons on Earth?",
     "The seasons come from the tilt of Earth's axis, about 23.5 degrees. As Earth orbits the Sun, each "
     "hemisphere takes turns leaning toward the Sun, receiving more direct sunlight and longer days in "
     "summer. Distance from the Sun is not the cause."),
    ("At what temperature does water boil at sea level, and why is it lower on a mountain?",
     "At sea level pure water boils at 100 degrees Celsius (212 degrees Fahrenheit). On a mountain the air "
     "pressure is lower, so water molecules escape into vapor more easily and the boiling point drops, "
     "which is why cooking takes longer at altitude."),
    ("What is the difference between weather and climate?",
     "Weather is the short-term state of the atmosphere, such as today's rain or tomorrow's temperature. "
     "Climate is the long-term pattern of weather in a region, usually averaged over thirty years or more."),
    ("Name the planets of the solar system in order from the Sun.",
     "From the Sun outward the planets are Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus, and "
     "Neptune. The first four are small rocky planets; the last four are giant planets made mostly of gas or ice."),
    ("Why do objects float or sink in water?",
     "An object floats when the water it displaces weighs at least as much as the object itself; this upward "
     "push is the buoyant force described by Archimedes. Objects denser than water displace too little "
     "water to support their weight, so they sink."),
    ("What is the function of the mitochondria in a cell?",
     "Mitochondria are the cell's power plants. They break down sugars and fats with oxygen through cellular "
     "respiration and store the released energy as ATP, the molecule that powers most cellular work."),
    ("Explain what an atom is made of.",
     "An atom has a tiny, dense nucleus containing positively charged protons and neutral neutrons. "
     "Negatively charged electrons surround the nucleus. The number of protons defines the element, for "
     "example six for carbon and eight for oxygen."),
    ("Why does the Moon appear to change shape during the month?",
     "The Moon does not change shape; we see different portions of its sunlit half as it orbits Earth. "
     "At new moon the lit side faces away from us, and at full moon it faces us fully. A full cycle of "
     "phases takes about 29.5 days."),
    ("What is the speed of light, roughly?",
     "Light travels through a vacuum at about 300,000 kilometers per second, or roughly 186,000 miles per "
     "second. At that speed, sunlight takes a little over eight minutes to reach Earth."),
    ("Describe the water cycle briefly.",
     "Water evaporates from oceans, lakes, and plants, rises, and cools to form clouds by condensation. It "
     "falls back as precipitation, then runs off into rivers or soaks into the ground, eventually returning "
     "to the sea, where the cycle begins again."),
    ("What is the capital of Australia?",
     "The capital of Australia is Canberra. It was purpose-built as a compromise between the two largest "
     "cities, Sydney and Melbourne, and became the seat of government in 1927."),
    ("Which is the longest river in South America?",
     "The Amazon is the longest river in South America, flowing about 6,400 kilometers from the Andes in "
     "Peru to the Atlantic Ocean in Brazil. It also carries more water than any other river on Earth."),
    ("Name the seven continents.",
     "The seven continents are Africa, Antarctica, Asia, Australia (Oceania), Europe, North America, and "
     "South America. Asia is the largest by both area and population, and Australia is the smallest."),
    ("What is the highest mountain in the world?",
     "Mount Everest, on the border of Nepal and China, is the highest mountain above sea level at about "
     "8,849 meters (29,032 feet). It lies in the Himalaya range."),
    ("Which ocean is the largest?",
     "The Pacific Ocean is the largest and deepest ocean. It covers roughly a third of Earth's surface, more "
     "than all the land combined, and contains the Mariana Trench, the deepest known point in the oceans."),
    ("What is the capital of Canada, and in which province is it?",
     "The capital of Canada is Ottawa, located in the province of Ontario on the Ottawa River, across from "
     "Gatineau in Quebec."),
    ("Which desert is the largest hot desert in the world?",
     "The Sahara in northern Africa is the largest hot desert, covering about nine million square kilometers "
     "across more than ten countries. Antarctica is larger overall, but it is a cold desert."),
    ("What is the capital of Japan, and what is its approximate population?",
     "Tokyo is the capital of Japan. The Tokyo Metropolis has around 14 million residents, and the Greater "
     "Tokyo Area, with about 37 million people, is often counted as the most populous metropolitan area in the world."),
    ("Write a two-sentence thank-you note to a neighbor who watered your plants while you were away.",
     "Thank you so much for looking after my plants while I was traveling; they look healthier than when I "
     "left! Please let me return the favor next time you are away."),
    ("Write a short, friendly reminder email about a team meeting on Thursday at 10 a.m.",
     "Hi everyone, just a quick reminder that our team meeting is this Thursday at 10 a.m. in the usual room. "
     "Please bring your project updates and any questions. See you there!"),
    ("Summarize the plot of Cinderella in one or two sentences.",
     "A kind young woman mistreated by her stepfamily attends a royal ball with help from her fairy godmother, "
     "but must leave at midnight. The prince finds her using the glass slipper she left behind, and they marry."),
    ("Write a haiku about autumn leaves.",
     "Here is a haiku about autumn leaves:\nCrimson leaves let go,\ndrifting on the cooling wind,\n"
     "the branch rests, and waits."),
    ("Give three tips for staying focused while studying.",
     "First, put your phone in another room to remove the biggest distraction. Second, work in focused "
     "blocks of about 25 to 50 minutes followed by short breaks. Third, set one specific goal for each "
     "session so you know when you are done."),
    ("Rewrite this sentence to be more formal: 'We can't make it to the meeting, sorry.'",
     "A more formal version would be: 'We regret to inform you that we will be unable to attend the meeting. "
     "Please accept our apologies.'"),
    ("Write a one-paragraph product description for a reusable water bottle.",
     "Stay hydrated wherever the day takes you with this stainless steel reusable bottle. Double-wall "
     "insulation keeps drinks cold for 24 hours or hot for 12, the leak-proof lid fits in any bag, and "
     "every refill means one less plastic bottle in a landfill."),
    ("Suggest a title for a short story about a lighthouse keeper who finds a message in a bottle.",
     "A fitting title could be 'The Keeper's Letter'. It hints at both the lighthouse keeper and the "
     "mysterious message, and leaves readers wondering who wrote it and why it arrived."),
    ("Explain what this Python code does: print(sum(range(1, 11)))",
     "The code builds the numbers 1 through 10 with range(1, 11), since the end value is excluded, adds them "
     "with sum, and prints the result, which is 55."),
    ("What does this Python expression return: [x * x for x in range(5)]?",
     "It is a list comprehension that squares each number from 0 to 4, so it returns the list "
     "[0, 1, 4, 9, 16]."),
    ("Explain the difference between a list and a tuple in Python.",
     "Both hold ordered sequences of items. A list is mutable, so you can add, remove, or change elements "
     "after creating it. A tuple is immutable: once created it cannot change, which makes it usable as a "
     "dictionary key and signals that the data is fixed."),
    ("What does the following JavaScript do: const total = prices.reduce((a, b) => a + b, 0);",
     "It adds up every number in the prices array. reduce starts the accumulator at 0 and, for each element, "
     "returns the running sum plus that element, so total ends up holding the sum of all prices."),
    ("Explain what a for loop is, using a simple example.",
     "A for loop repeats a block of code once for each item in a sequence. In Python, 'for name in "
     "[\"Ana\", \"Ben\"]: print(name)' prints Ana and then Ben, running the print statement once per name."),
    ("What does the SQL query SELECT COUNT(*) FROM orders WHERE status = 'shipped'; do?",
     "It counts the rows in the orders table whose status column equals 'shipped' and returns that single "
     "number, which is the total of shipped orders."),
    ("Explain what this Python function does: def is_even(n): return n % 2 == 0",
     "The function checks whether a number is even. The % operator gives the remainder after dividing by 2; "
     "if the remainder is 0 the function returns True, otherwise it returns False."),
    ("What is recursion in programming? Give a short example.",
     "Recursion is when a function calls itself on a smaller version of the problem until it reaches a "
     "simple base case. For example, factorial(n) returns 1 when n is 0, and otherwise returns n times "
     "factorial(n - 1)."),
    ("What does the git command 'git status' show?",
     "git status shows the state of your working directory: which branch you are on, which files have "
     "changes staged for the next commit, which have unstaged changes, and which files are untracked."),
    ("Explain what a dictionary is in Python with a tiny example.",
     "A dictionary stores key-value pairs for fast lookup by key. For example, ages = {\"Ana\": 31, "
     "\"Ben\": 27} lets you write ages[\"Ana\"] to get 31, and ages[\"Cy\"] = 40 adds a new entry."),
]


def arithmetic_rows(rng: random.Random, n: int) -> list[dict]:
    """Word problems with worked answers; numbers drawn from the seeded generator."""
    names = ["Maya", "Omar", "Lena", "Tom", "Priya", "Jonas", "Aiko", "Carlos", "Nadia", "Sam"]
    rows = []
    for i in range(n):
        who = names[i % len(names)]
        kind = i % 6
        if kind == 0:
            boxes, per, eaten = rng.randint(3, 9), rng.randint(6, 12), rng.randint(2, 9)
            q = f"{who} buys {boxes} boxes of {per} cookies each and eats {eaten}. How many cookies are left?"
            a = (f"{who} starts with {boxes} x {per} = {boxes * per} cookies. After eating {eaten}, "
                 f"{boxes * per} - {eaten} = {boxes * per - eaten} cookies are left.")
        elif kind == 1:
            speed, hours = rng.randint(40, 90), rng.randint(2, 6)
            q = f"A train travels at {speed} km per hour for {hours} hours. How far does it go?"
            a = (f"Distance equals speed multiplied by time, so the train covers {speed} km/h x {hours} h = "
                 f"{speed * hours} km in total.")
        elif kind == 2:
            price, pct = rng.randint(2, 15) * 20, rng.choice([10, 15, 20, 25, 30, 40])
            off = price * pct // 100
            q = f"A jacket costs ${price} and is on sale for {pct}% off. What is the sale price?"
            a = (f"The discount is {pct}% of ${price}, which is ${off}. The sale price is "
                 f"${price} - ${off} = ${price - off}.")
        elif kind == 3:
            width = rng.randint(3, 12)
            length = width + rng.randint(2, 10)
            q = f"A garden is {width} m wide and {length} m long. What are its area and perimeter?"
            a = (f"Area = {width} x {length} = {width * length} square meters. Perimeter = "
                 f"2 x ({width} + {length}) = {2 * (width + length)} meters.")
        elif kind == 4:
            friends, each = rng.randint(3, 8), rng.randint(4, 15)
            total = friends * each
            q = f"{who} shares {total} stickers equally among {friends} friends. How many does each friend get?"
            a = (f"To share equally, divide the total by the number of friends: {total} / {friends} = {each}, "
                 f"so each friend gets {each} stickers.")
        else:
            start, hours, minutes = rng.randint(7, 11), rng.randint(1, 4), rng.choice([15, 20, 30, 45])
            span = f"{hours} hour{'s' if hours > 1 else ''}"
            q = (f"{who} starts a hike at {start}:00 a.m. and walks for {span} and {minutes} minutes. "
                 f"At what time does the hike end?")
            end = start + hours
            clock = f"{end if end <= 12 else end - 12}:{{}} {'a.m.' if end < 12 else 'p.m.'}"
            a = (f"Adding {span} to {start}:00 a.m. gives {clock.format('00')}, and adding the remaining "
                 f"{minutes} minutes means the hike ends at {clock.format(minutes)}")
        rows.append({"instruction": q, "output": a})
    return rows


def replay_rows(rng: random.Random) -> list[dict]:
    rows = [{"instruction": q, "output": a} for q, a in GENERAL] + arithmetic_rows(rng, 24)
    rng.shuffle(rows)
    return rows


# ----------------------------------------------------------------------------- output

def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def readme(counts: dict[str, int]) -> str:
    return f"""# Offline data set

Small, synthetic data for running the pipeline without network access. Generate it with

    python tools/write_offline_data.py            # writes data/
    python tools/write_offline_data.py --check    # exit 1 if data/ differs from the generator

The generator is deterministic (seed {SEED}) and needs only the Python standard library and
PyYAML. Medical rows are composed from the hand-written knowledge base in
`data/knowledge/conditions.yaml`: {len(CONDITIONS)} conditions across {len({c['system'] for c in CONDITIONS})} systems.

Every row was written for this project: it is synthetic, it is not clinical advice, and it is
not copied from any data set. The knowledge base states classic textbook associations in
simplified form; do not use it for patient care.

| file | rows | schema |
|---|---|---|
| `medical_o1_offline.jsonl` | {counts['medical_o1_offline.jsonl']} | `Question`, `Complex_CoT`, `Response` (the schema of FreedomIntelligence/medical-o1-reasoning-SFT) |
| `medical_mc_train.jsonl` | {counts['medical_mc_train.jsonl']} | `id`, `question`, `options` (A-D), `answer`, `topic` |
| `medical_mc_eval.jsonl` | {counts['medical_mc_eval.jsonl']} | `id`, `question`, `options` (A-D), `answer`, `topic` |
| `general_replay.jsonl` | {counts['general_replay.jsonl']} | `instruction`, `output` |
| `medical_o1_offline_zh.jsonl` | 12 | `Question`, `Complex_CoT`, `Response`, in Chinese (written by hand, not by the generator) |

- `medical_o1_offline.jsonl`: supervised fine-tuning rows. About half are open-ended clinical
  questions (diagnosis, key finding, next step, first-line treatment, mechanism); the rest are
  multiple-choice rows whose `Question` is `common.reasoning.format_choice_question(stem, options)`
  and whose `Response` ends with a line `\\boxed{{X}}`. `Complex_CoT` is first-person reasoning
  of 50-130 words.
- `medical_mc_eval.jsonl`: held-out multiple-choice questions (stem only in `question`; `topic`
  is the organ system). Correct letters are balanced; distractors come from the same system; no
  stem, and no combination of condition, age/sex and findings, appears in the other files.
- `medical_mc_train.jsonl`: multiple-choice questions in the same schema, disjoint from the
  eval file.
- `general_replay.jsonl`: non-medical instructions (arithmetic word problems with worked
  answers, short writing tasks, science and geography facts, simple code explanations).

About 10% of vignettes omit age and sex ("A patient presents with ...").

`medical_o1_offline_zh.jsonl` holds a few Chinese rows for the `zh` configs of the local hub
mirror's stand-in of the data set (tools/hub_mirror/fill.py); the generator does not write it.
"""


def build() -> dict[str, str]:
    rng = random.Random(SEED)
    plan, taken = Plan(random.Random(SEED + 1)), set()
    eval_rows = mc_rows("mc-eval", N_EVAL, random.Random(SEED + 2), plan, taken)
    train_rows = mc_rows("mc-train", N_TRAIN, random.Random(SEED + 3), plan, taken)
    sft = sft_rows(random.Random(SEED + 4), plan, taken)
    replay = replay_rows(rng)
    files = {"medical_o1_offline.jsonl": sft, "medical_mc_eval.jsonl": eval_rows,
             "medical_mc_train.jsonl": train_rows, "general_replay.jsonl": replay}
    out = {name: jsonl(rows) for name, rows in files.items()}
    out["README.md"] = readme({name: len(rows) for name, rows in files.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "data"), help="output folder (default: data/ in the repository)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file differs from what would be written")
    args = parser.parse_args(argv)
    out = Path(args.out)
    files = build()
    if args.check:
        for name, text in files.items():
            path = out / name
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                state = "missing" if not path.is_file() else "differs"
                print(f"{path} {state} from the generator; run: python tools/write_offline_data.py --out {out}")
                return 1
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
