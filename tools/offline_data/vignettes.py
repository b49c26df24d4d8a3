"""Clinical vignettes and the question stems built on them.

A case is one condition asked about one way (question type): a patient's age and sex, a choice
of the condition's features, sometimes its key finding, and the question.
"""

from __future__ import annotations

import math
import random

from .text import article, cap, join

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

