"""A small hand-written medical knowledge base for the offline data set.

Every entry was written for this project from classic textbook associations; it is synthetic
teaching material, not clinical advice. `CONDITIONS` is a list of dicts with the keys
system, diagnosis, age (min, max in years), sex ("male", "female" or "any"), pregnant (bool),
features, key_finding, next_step, treatment and mechanism. The rows live in the part files
(layout described in medical_knowledge_part1.py) and in `ROWS` below.
"""

from __future__ import annotations

try:  # imported as tools.medical_knowledge
    from . import (
        medical_knowledge_part1,
        medical_knowledge_part2,
        medical_knowledge_part3,
        medical_knowledge_part4,
        medical_knowledge_part5,
    )
except ImportError:  # imported with tools/ itself on sys.path
    import medical_knowledge_part1
    import medical_knowledge_part2
    import medical_knowledge_part3  # type: ignore
    import medical_knowledge_part4
    import medical_knowledge_part5  # type: ignore

ROWS = {
    "rheumatology": [
        ("rheumatoid arthritis", (30, 60), "female",
         ["symmetric pain in the small joints of both hands", "morning stiffness lasting over an hour",
          "swelling of the knuckles and middle finger joints", "fatigue"],
         "positive anti-cyclic citrullinated peptide antibodies",
         "baseline hand radiographs and prompt start of a disease-modifying drug",
         "methotrexate",
         "autoimmune synovial inflammation (pannus) driven by T cells and cytokines such as TNF-alpha"),
        ("acute gout", (40, 70), "male",
         ["sudden severe joint pain that began overnight", "a weekend of heavy beer drinking",
          "hypertension treated with a thiazide diuretic", "obesity"],
         "a hot, red, swollen first metatarsophalangeal joint (podagra)",
         "arthrocentesis with polarized light microscopy",
         "an NSAID such as indomethacin, colchicine, or a corticosteroid for the flare",
         "monosodium urate crystal deposition triggering neutrophilic inflammation"),
        ("systemic lupus erythematosus", (18, 45), "female",
         ["a rash over the cheeks that spares the nasolabial folds", "joint pain", "rashes after sun exposure",
          "painless mouth ulcers", "fatigue"],
         "a positive antinuclear antibody test",
         "anti-double-stranded DNA and anti-Smith antibody testing",
         "hydroxychloroquine",
         "loss of self-tolerance with immune complex deposition (type III hypersensitivity)"),
        ("giant cell arteritis", (55, 85), "any",
         ["a new headache over the temple", "jaw pain when chewing", "scalp tenderness",
          "a brief episode of vision loss in one eye", "aching stiffness of the shoulders and hips"],
         "a markedly elevated erythrocyte sedimentation rate",
         "starting high-dose corticosteroids immediately, then arranging a temporal artery biopsy",
         "high-dose glucocorticoids such as prednisone",
         "granulomatous vasculitis of large and medium arteries, especially branches of the external carotid"),
        ("ankylosing spondylitis", (18, 35), "male",
         ["chronic low back pain that improves with exercise", "morning back stiffness lasting over an hour",
          "back pain in the second half of the night", "a past episode of anterior uveitis"],
         "reduced lumbar flexion on the Schober test",
         "pelvic radiograph of the sacroiliac joints",
         "NSAIDs and physical therapy",
         "HLA-B27-associated enthesitis leading to sacroiliitis and eventual spinal fusion"),
    ],
    "dermatology": [
        ("melanoma", (40, 80), "any",
         ["a mole that has changed in size and color", "irregular borders", "several shades of brown and black",
          "a diameter of 9 mm", "fair skin with many childhood sunburns"],
         "an asymmetric pigmented lesion with an atypical network on dermoscopy",
         "full-thickness excisional biopsy with narrow margins",
         "wide local excision with margins chosen by Breslow depth",
         "malignant transformation of melanocytes, often with a BRAF V600E mutation, driven by ultraviolet exposure"),
        ("plaque psoriasis", (20, 50), "any",
         ["well-demarcated red plaques with silvery scale", "lesions on the elbows and knees", "pitted fingernails",
          "mild itching"],
         "pinpoint bleeding when the scale is scraped off (Auspitz sign)",
         "estimating the body surface area involved to guide therapy, as the diagnosis is clinical",
         "topical corticosteroids combined with a vitamin D analog for limited disease",
         "Th17/IL-23-driven inflammation causing keratinocyte hyperproliferation"),
        ("basal cell carcinoma", (50, 85), "any",
         ["a slowly growing skin-colored bump on the nose", "occasional bleeding from the lesion",
          "a central sore that will not heal", "decades of outdoor work"],
         "a pearly papule with rolled borders and arborizing telangiectasias",
         "shave or punch biopsy of the lesion",
         "surgical excision, with Mohs surgery for lesions on the face",
         "ultraviolet-induced mutations in the Hedgehog pathway (PTCH1)"),
        ("herpes zoster (shingles)", (60, 90), "any",
         ["burning pain in one area for two days before a rash", "a painful band-like rash on one side of the trunk",
          "fatigue", "malaise"],
         "grouped vesicles on an erythematous base confined to a single dermatome",
         "starting an oral antiviral within 72 hours of rash onset",
         "oral valacyclovir",
         "reactivation of latent varicella-zoster virus from a dorsal root ganglion"),
        ("Stevens-Johnson syndrome", (20, 60), "any",
         ["fever and malaise", "painful dusky red skin spots", "erosions of the mouth and eyes",
          "lamotrigine therapy begun three weeks ago"],
         "a positive Nikolsky sign with skin detachment under 10% of the body surface area",
         "stopping the suspected culprit drug immediately",
         "withdrawal of the offending drug and supportive care in a burn or intensive care unit",
         "a drug-induced cytotoxic T-cell reaction causing widespread keratinocyte death"),
        ("atopic dermatitis", (0.5, 10), "any",
         ["intensely itchy dry skin", "a rash in the creases of the elbows and knees",
          "a family history of asthma and hay fever", "flares every winter"],
         "lichenified eczematous plaques in the antecubital and popliteal fossae",
         "daily emollients and avoidance of triggers such as harsh soaps",
         "emollients plus a low-potency topical corticosteroid for flares",
         "skin barrier dysfunction (for example filaggrin mutations) with Th2-mediated inflammation"),
    ],
    "toxicology": [
        ("acetaminophen overdose", (15, 40), "any",
         ["an intentional ingestion of pills 4 hours ago", "nausea", "vomiting", "a normal level of consciousness"],
         "a 4-hour acetaminophen level above the treatment line on the Rumack-Matthew nomogram",
         "starting N-acetylcysteine immediately",
         "IV or oral N-acetylcysteine",
         "glutathione depletion letting the toxic metabolite NAPQI accumulate, causing centrilobular hepatic necrosis"),
        ("organophosphate poisoning", (20, 60), "any",
         ["excessive salivation and tearing", "exposure to insecticide spray on a farm that morning",
          "vomiting and diarrhea", "muscle twitching"],
         "pinpoint pupils with bradycardia and copious bronchial secretions",
         "removal of contaminated clothing, skin decontamination, and IV atropine",
         "atropine plus pralidoxime",
         "irreversible inhibition of acetylcholinesterase causing muscarinic and nicotinic cholinergic excess"),
        ("opioid overdose", (18, 50), "any",
         ["unresponsiveness", "slow and shallow breathing", "needle marks on the forearms"],
         "pinpoint pupils with a respiratory rate of 6 per minute",
         "IV or intranasal naloxone with bag-mask ventilation",
         "naloxone",
         "mu-opioid receptor stimulation depressing the brainstem respiratory centers"),
        ("carbon monoxide poisoning", (20, 70), "any",
         ["a throbbing headache", "family members at home with similar symptoms", "dizziness",
          "nausea", "recent use of a gas space heater during a cold spell"],
         "an elevated carboxyhemoglobin level despite a normal pulse oximetry reading",
         "100% oxygen by non-rebreather mask",
         "high-flow 100% oxygen, with hyperbaric oxygen for severe cases",
         "carbon monoxide binding hemoglobin with high affinity, reducing oxygen delivery and shifting the dissociation curve left"),
        ("tricyclic antidepressant overdose", (18, 50), "any",
         ["confusion", "flushed dry skin", "dilated pupils", "urinary retention", "a seizure in the ambulance"],
         "a QRS duration of 130 ms on ECG",
         "IV sodium bicarbonate",
         "sodium bicarbonate boluses with supportive care",
         "blockade of fast cardiac sodium channels, plus anticholinergic and alpha-blocking effects"),
        ("alcohol withdrawal", (30, 60), "any",
         ["a tremor of both hands", "a last drink two days ago", "anxiety", "sweating",
          "a heart rate of 112 beats per minute"],
         "a CIWA-Ar score of 18",
         "symptom-triggered benzodiazepines guided by the CIWA-Ar score, plus thiamine",
         "a benzodiazepine such as chlordiazepoxide or lorazepam, with thiamine",
         "loss of chronic alcohol-enhanced GABA activity with upregulated NMDA signaling causing CNS hyperexcitability"),
        ("lithium toxicity", (25, 60), "any",
         ["a coarse tremor", "long-term lithium therapy for bipolar disorder",
          "vomiting and diarrhea", "confusion", "a thiazide diuretic added last month"],
         "a serum lithium level of 2.6 mEq/L",
         "stopping lithium and giving IV isotonic saline, with nephrology consultation for dialysis",
         "IV normal saline, with hemodialysis for severe toxicity",
         "reduced renal lithium clearance because thiazides increase proximal sodium and lithium reabsorption"),
    ],
}

_PARTS = (medical_knowledge_part1, medical_knowledge_part2, medical_knowledge_part3,
          medical_knowledge_part4, medical_knowledge_part5)


def _build() -> list[dict]:
    conditions = []
    for rows in [part.ROWS for part in _PARTS] + [ROWS]:
        for system, entries in rows.items():
            for diagnosis, age, sex, features, key, next_step, treatment, mechanism in entries:
                conditions.append({
                    "system": system,
                    "diagnosis": diagnosis,
                    "age": (age[0], age[1]),
                    "sex": "female" if sex == "pregnant" else sex,
                    "pregnant": sex == "pregnant",
                    "features": list(features),
                    "key_finding": key,
                    "next_step": next_step,
                    "treatment": treatment,
                    "mechanism": mechanism,
                })
    return conditions


CONDITIONS: list[dict] = _build()
SYSTEMS: list[str] = sorted({c["system"] for c in CONDITIONS})


def _validate() -> None:
    names = [c["diagnosis"] for c in CONDITIONS]
    if len(set(names)) != len(names):
        raise ValueError("duplicate diagnosis in the knowledge base")
    for c in CONDITIONS:
        if not 3 <= len(c["features"]) <= 6:
            raise ValueError(f"{c['diagnosis']}: needs 3-6 features")
        if c["sex"] not in ("male", "female", "any") or not 0 <= c["age"][0] < c["age"][1]:
            raise ValueError(f"{c['diagnosis']}: bad sex or age range")
    for system in SYSTEMS:
        if sum(c["system"] == system for c in CONDITIONS) < 4:
            raise ValueError(f"{system}: fewer than 4 conditions (distractors need 3)")


_validate()
