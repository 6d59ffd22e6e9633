"""A deterministic English-like text corpus of any size, for word-count benchmarks.

    from corpus import generate
    generate("corpus.txt", 64, seed=0)           # 64 MiB of text, same bytes for a seed

    .venv/bin/python bench/corpus.py corpus.txt --size-mb 64 --seed 0

What the text is like:

* **Vocabulary** — about 50,000 pronounceable made-up words built from syllables (onset +
  vowel + coda: "pantis", "samgo", "swealflyck"); as in English, the frequent words are short
  and simple. About 1 % are contractions ("wen't", "tash'll") and about 3 % proper nouns,
  always capitalised. Word frequencies follow a Zipf-Mandelbrot law,
  ``1 / (rank + 2.7) ** 1.07``, close to English's: the top word is about 4.5 % of the words,
  the top 100 about 43 %; words average 6 letters; 64 MiB hold about 9 M words, 72 k distinct
  after lower-casing and stripping punctuation (possessives count apart).
* **Tokens** — each word appears as a variant: plain, followed by a comma, a period, a
  semicolon, a question or exclamation mark, possessive ("'s"), opening or closing a quote or
  a parenthesis, Capitalised or in CAPITALS. The variant probabilities are in `VARIANTS`.
* **Lines** — 5 to 20 tokens, the first letter upper-cased, ended by a period (mostly), "?",
  "!" or a closing quote. ASCII only, "\\n" line ends.

Speed: 12-15 MiB/s on a 2-core machine. Tokens are drawn in batches by `TokenDrawer` with
no Python code run per token (see there); lines are joined and written in pieces of about
8 MiB. The file has exactly the size asked for (its last line is cut short to fit and ends
with "\\n"). The same seed gives the same bytes on any machine with the same Python `random`
(3.11+).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import random
import sys
import time
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from operator import getitem
from pathlib import Path

MiB = 1 << 20
VOCABULARY = 50_000
ZIPF_S = 1.07
ZIPF_Q = 2.7
PIECE = 8 * MiB
LINES_PER_BATCH = 20_000
MIN_WORDS, MAX_WORDS = 5, 20

ONSETS = (
    "", "", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v",
    "w", "y", "z", "bl", "br", "ch", "cl", "cr", "dr", "fl", "fr", "gl", "gr", "kn", "pl",
    "pr", "qu", "sc", "sh", "sk", "sl", "sm", "sn", "sp", "st", "str", "sw", "th", "tr", "wh",
)  # fmt: skip
VOWELS = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "ai", "ea", "ee", "ie", "oo", "ou", "y")
CODAS = (
    "", "", "", "", "n", "r", "s", "t", "l", "m", "d", "nd", "st", "ng", "ck", "rt", "th",
    "sh", "x", "ll", "nt", "rn",
)  # fmt: skip
CONTRACTIONS = ("n't", "'ll", "'re", "'ve", "'d")

# (format, probability) of each way a word appears in the text. {w}: the word as it is in
# the vocabulary, {c}: capitalised, {u}: in capitals.
VARIANTS: tuple[tuple[str, float], ...] = (
    ("{w}", 0.826),
    ("{w},", 0.065),
    ("{w}.", 0.025),
    ("{c}", 0.020),
    ("{w}'s", 0.015),
    ('"{w}', 0.012),
    ('{w}"', 0.008),
    ('{w},"', 0.006),
    ("{w};", 0.005),
    ("{w}?", 0.005),
    ("{w}!", 0.004),
    ("{w}:", 0.003),
    ("({w}", 0.002),
    ("{w})", 0.002),
    ("{u}", 0.002),
)
LINE_ENDS: tuple[tuple[str, float], ...] = (
    (".", 0.84),
    ("?", 0.07),
    ("!", 0.04),
    ('."', 0.03),
    ("", 0.02),
)


def vocabulary(rng: random.Random, size: int = VOCABULARY) -> list[str]:
    """`size` distinct words, most frequent first; frequent words have fewer syllables."""
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        rank = len(words)
        if rank < 300:
            syllables = rng.choices((1, 2), (0.8, 0.2))[0]
        elif rank < 5_000:
            syllables = rng.choices((1, 2, 3), (0.3, 0.5, 0.2))[0]
        else:
            syllables = rng.choices((2, 3, 4), (0.45, 0.4, 0.15))[0]
        # the frequent words are made of simple syllables too: "tam", not "strouth"
        onsets, vowels, codas = (
            (ONSETS[:20], VOWELS[:9], CODAS[:10]) if rank < 1_000 else (ONSETS, VOWELS, CODAS)
        )
        word = "".join(
            rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables)
        )
        if len(word) < 2 and rank > 30:
            continue
        roll = rng.random()
        if roll < 0.01 and rank > 20:
            word += rng.choice(CONTRACTIONS)
        elif roll < 0.04 and rank > 50:
            word = word.capitalize()  # a proper noun
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def _quantize(weights: list[float], total: int) -> list[int]:
    """Integer shares of `total` proportional to `weights` (largest remainders), summing
    exactly to `total`."""
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: shares[i] - exact[i])
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


class TokenDrawer:
    """Draws tokens: a word by its Zipf weight, then independently the variant it appears as.

    Both draws are table look-ups run by C loops (`map` over builtins), with no Python code
    per token, which makes them about twice as fast as `random.choices`: a word is the first
    whose cumulative weight, scaled to 2**32, exceeds a random 32-bit key (`bisect_right`);
    a variant is one of 65,536 equal slots shared out by `VARIANTS`' probabilities."""

    def __init__(self, words: list[str]) -> None:
        weights = [1.0 / (rank + 1 + ZIPF_Q) ** ZIPF_S for rank in range(len(words))]
        self.cum32 = list(itertools.accumulate(_quantize(weights, 1 << 32)))
        # every word as each variant; a slot holds a reference to one of these lists
        forms = [
            [fmt.format(w=w, c=w.capitalize(), u=w.upper()) for w in words] for fmt, _ in VARIANTS
        ]
        shares = _quantize([p for _, p in VARIANTS], 1 << 16)
        self.slots = [form for form, n in zip(forms, shares, strict=True) for _ in range(n)]

    def draw(self, rng: random.Random, k: int) -> list[str]:
        keys, slots = array("I"), array("H")
        keys.frombytes(rng.randbytes(4 * k))
        slots.frombytes(rng.randbytes(2 * k))
        if sys.byteorder == "big":  # the same bytes give the same keys everywhere
            keys.byteswap()
            slots.byteswap()
        ranks = map(bisect_right, itertools.repeat(self.cum32, k), keys)
        return list(map(getitem, map(self.slots.__getitem__, slots), ranks))


def lines(seed: int = 0) -> Iterator[str]:
    """The corpus as an endless stream of lines, each ending in "\\n"."""
    return itertools.chain.from_iterable(_batches(seed))


def _batches(seed: int) -> Iterator[list[str]]:
    rng = random.Random(seed)
    drawer = TokenDrawer(vocabulary(rng))
    ends, end_weights = zip(*LINE_ENDS, strict=True)
    lengths = range(MIN_WORDS, MAX_WORDS + 1)
    while True:
        line_lengths = rng.choices(lengths, k=LINES_PER_BATCH)
        line_ends = rng.choices(ends, end_weights, k=LINES_PER_BATCH)
        tokens = drawer.draw(rng, sum(line_lengths))
        batch: list[str] = []
        pos = 0
        for n, end in zip(line_lengths, line_ends, strict=True):
            text = " ".join(tokens[pos : pos + n])
            pos += n
            batch.append(f"{text[:1].upper()}{text[1:]}{end}\n")
        yield batch


def generate(path: str | os.PathLike[str], size_mb: float, seed: int = 0) -> int:
    """Write exactly `size_mb` MiB of corpus for `seed` to `path`; returns the size."""
    size = int(size_mb * MiB)
    written = 0
    with open(path, "w", encoding="ascii", newline="\n") as out:
        piece: list[str] = []
        piece_len = 0
        for line in lines(seed):
            piece.append(line)
            piece_len += len(line)
            if written + piece_len >= size:
                text = "".join(piece)[: size - written]
                if text:
                    text = text[:-1] + "\n"
                out.write(text)
                written += len(text)
                break
            if piece_len >= PIECE:
                out.write("".join(piece))
                written += piece_len
                piece, piece_len = [], 0
    return written


def cached(directory: str | os.PathLike[str], size_mb: float, seed: int = 0) -> Path:
    """The corpus for (`size_mb`, `seed`) in `directory`, generated the first time.

    The name carries a digest of this file, so a changed generator never serves an old
    corpus; it is written under a temporary name and renamed, so a half-written one is never
    found either."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    version = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]
    path = directory / f"corpus-{size_mb:g}MiB-seed{seed}-{version}.txt"
    if not path.exists():
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        try:
            generate(tmp, size_mb, seed)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("path", type=Path, help="the file to write")
    parser.add_argument("--size-mb", type=float, default=64, help="size in MiB (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    args = parser.parse_args(argv)
    if args.size_mb <= 0:
        parser.error("--size-mb must be positive")
    start = time.perf_counter()
    size = generate(args.path, args.size_mb, args.seed)
    seconds = time.perf_counter() - start
    print(
        f"wrote {size:,} bytes to {args.path} in {seconds:.1f} s ({size / MiB / seconds:.0f} MiB/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
