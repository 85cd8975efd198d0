"""Words into token ids for a text model, kept beside the model as data (``tokenizer.json``).

Keras 3 has string tensors only on TensorFlow (``TextVectorization`` needs ``tf.data``),
so a Keras text model on torch or JAX takes token ids. Shipyard keeps the tokenizer
beside the ``.keras`` file as JSON, never as code: the keras flavor turns the strings
clients send into ids with it, and the monitor counts, per request row, how many words
it had and how many of them the vocabulary did not know (the text's drift features).

Words are lower-cased runs of letters and digits (with an apostrophe inside); id 0 pads,
id 1 is any word outside the vocabulary, the vocabulary's words follow from 2, most
frequent first.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidInputError

FILE = "tokenizer.json"
FORMAT = "shipyard.tokenizer/1"
PAD, OOV = 0, 1
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
# Words past a row's ``length`` are never read: a longer row is read this far only, so a
# megabyte of text costs what a sentence does
MAX_CHARS = 100_000


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased, in order."""
    return _WORD.findall(text.lower())


class Tokenizer:
    """A vocabulary and the length every row is padded or cut to."""

    def __init__(self, vocabulary: Iterable[str], length: int) -> None:
        self.vocabulary = tuple(vocabulary)
        self.length = length
        self._index = {w: i + 2 for i, w in enumerate(self.vocabulary)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and (self.vocabulary, self.length) == (
            other.vocabulary,
            other.length,
        )

    def __hash__(self) -> int:
        return hash((self.vocabulary, self.length))

    @classmethod
    def fit(cls, texts: Iterable[str], *, max_words: int = 10_000, length: int = 32) -> Tokenizer:
        """The ``max_words`` most frequent words of ``texts`` (ties in first-seen order)."""
        counts = Counter(w for text in texts for w in words(text))
        return cls(tuple(w for w, _ in counts.most_common(max_words)), length)

    @property
    def size(self) -> int:
        """How many ids there are (padding and out-of-vocabulary included): an
        ``Embedding``'s ``input_dim``."""
        return len(self.vocabulary) + 2

    def encode(self, texts: Iterable[str]) -> np.ndarray:
        """Rows of ``length`` token ids (int32), the words kept from the start, padded at the
        end with 0."""
        index = self._index
        rows = [self._checked(text, n) for n, text in enumerate(texts)]
        out = np.zeros((len(rows), self.length), dtype=np.int32)
        for n, text in enumerate(rows):
            ids = [index.get(w, OOV) for w in words(text)[: self.length]]
            out[n, : len(ids)] = ids
        return out

    def stats(self, texts: Iterable[str]) -> np.ndarray:
        """Per row, its number of words and the share of them outside the vocabulary (0 for
        a row without words): the columns drift is measured on."""
        index = self._index
        rows = []
        for n, text in enumerate(texts):
            found = words(self._checked(text, n))
            unknown = sum(1 for w in found if w not in index)
            rows.append((len(found), unknown / len(found) if found else 0.0))
        return np.array(rows, dtype=np.float64).reshape(-1, 2)

    @staticmethod
    def _checked(text: Any, row: int) -> str:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        if not isinstance(text, str):
            raise InvalidInputError(
                f"text row {row}: expected a string, got {type(text).__name__}",
                hint="send each row as a JSON string (datatype BYTES)",
            )
        return text[:MAX_CHARS]

    def save(self, path: str | Path) -> Path:
        """Write the tokenizer as JSON to ``path`` (a directory gets ``tokenizer.json``)."""
        target = Path(path)
        if target.is_dir() or not target.suffix:
            target = target / FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        document = {"format": FORMAT, "length": self.length, "vocabulary": list(self.vocabulary)}
        target.write_text(json.dumps(document, ensure_ascii=False) + "\n")
        return target

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Read a tokenizer ``save`` wrote; a file of another form is refused by name."""
        where = Path(path)
        try:
            document = json.loads(where.read_text())
        except (OSError, ValueError) as err:
            raise InvalidInputError(f"{where}: not a readable tokenizer: {err}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise InvalidInputError(
                f"{where}: not a Shipyard tokenizer (format {FORMAT!r} expected)",
                hint="write it with shipyard.text.Tokenizer(...).save(path)",
            )
        vocabulary, length = document.get("vocabulary"), document.get("length")
        if not isinstance(length, int) or length < 1 or not isinstance(vocabulary, list):
            raise InvalidInputError(f"{where}: 'length' (>= 1) and 'vocabulary' (a list) expected")
        return cls(tuple(str(w) for w in vocabulary), length)
