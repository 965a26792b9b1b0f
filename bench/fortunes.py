"""A multi-class text set for benchmarks, built from Debian's `fortunes` package (BSD fortune's
topic files, /usr/share/games/fortunes; `make fortunes` installs it with apt-get). Each fortune is a
document, its file the topic. Not shipped with the product: benchmarks read it where Debian puts it.

- `topics8`: 8 topics of unequal size (computers, politics, science, songs-poems, men-women,
  startrek, law, food), about 4,300 documents;
- `topics20`: the 20 largest topics with plain prose (about 11,000 documents).
"""
from __future__ import annotations

import random
from pathlib import Path

FORTUNES = Path("/usr/share/games/fortunes")
TOPICS = {
    "topics8": ("computers", "politics", "science", "songs-poems", "men-women", "startrek", "law", "food"),
    "topics20": ("people", "definitions", "computers", "songs-poems", "politics", "miscellaneous", "work",
                 "science", "men-women", "zippy", "platitudes", "art", "wisdom", "linux", "literature",
                 "startrek", "drugs", "law", "education", "food"),
}


def label_config(name: str) -> str:
    choices = "".join(f'<Choice value="{t}"/>' for t in TOPICS[name])
    return f'<View><Text name="text" value="$text"/><Choices name="topic" toName="text">{choices}</Choices></View>'


def documents(name: str) -> list[tuple[str, str]]:
    """(text, topic) of every distinct fortune of the set's topics, in file order."""
    if not FORTUNES.is_dir():
        raise SystemExit(f"{FORTUNES} is missing: install Debian's `fortunes` package (make fortunes)")
    seen, rows = set(), []
    for topic in TOPICS[name]:
        raw = (FORTUNES / topic).read_bytes().decode("utf-8", "replace")
        for text in raw.split("\n%\n"):
            text = " ".join(text.split())
            if len(text) >= 20 and text not in seen:
                seen.add(text)
                rows.append((text, topic))
    return rows


def fortunes_data(name: str, n_pool: int, n_test: int, seed: int):
    """(pool texts, pool topics, test texts, test topics), a seeded shuffle."""
    rows = documents(name)
    random.Random(seed).shuffle(rows)
    pool, test = rows[:n_pool], rows[n_pool:n_pool + n_test]
    return [t for t, _ in pool], [y for _, y in pool], [t for t, _ in test], [y for _, y in test]
