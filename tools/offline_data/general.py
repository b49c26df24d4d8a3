"""general_replay.jsonl: non-medical instructions mixed into fine-tuning."""

from __future__ import annotations

import random

from .arithmetic import arithmetic_rows

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


def replay_rows(rng: random.Random) -> list[dict]:
    rows = [{"instruction": q, "output": a} for q, a in GENERAL] + arithmetic_rows(rng, 24)
    rng.shuffle(rows)
    return rows
