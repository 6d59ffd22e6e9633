"""Word count, the MapReduce "hello world".

    minihadoop fs put book.txt /books/
    minihadoop job submit examples/wordcount.py --input /books --output /counts --reducers 2
    minihadoop fs cat /counts/part-r-00000 | sort -t$'\\t' -k2 -nr | head

Words are lower-cased runs of letters (and apostrophes inside words), so "Don't" and
"don't" count as one word and punctuation is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import mapreduce

WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


def mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
    for word in WORD.findall(line.lower()):
        yield word, 1


# The built-in summing reducer (Hadoop's IntSumReducer): as a combiner it adds each count into
# its word's total as the mapper emits it, in compiled code, instead of keeping lists of 1s.
reducer = mapreduce.sum
combiner = mapreduce.sum
