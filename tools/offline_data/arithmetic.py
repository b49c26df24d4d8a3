"""Arithmetic word problems for the general replay rows."""

from __future__ import annotations

import random


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
