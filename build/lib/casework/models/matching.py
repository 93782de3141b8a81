"""Is this person already a client? Scoring two identities (names with accents folded,
compared by edit distance and by sound; date of birth exact or transposed; phone; ID
number) with rapidfuzz and jellyfish, and the blocking keys that find the few clients worth
scoring among many: the digits of the date of birth in any order, the sound of each family
name with the sound of the given name, the phone, the ID number.

Scores are 0-100. Only client numbers and scores ever leave this module's callers: never
the identities compared."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from itertools import product

import jellyfish
from rapidfuzz.distance import JaroWinkler

# At or above this, intake stops and asks: the same person, or someone new?
LIKELY = 85

NAME_WEIGHT, BIRTH_WEIGHT = 0.6, 0.4
# Names count from this similarity up: below it two names are simply different (two
# unrelated short names often reach 0.7 by edit distance alone).
NAME_FROM = 0.75
PHONE_BONUS, ID_BONUS, ID_CONFLICT = 0.15, 0.25, 0.15
TRANSPOSED_BIRTH = 0.8  # day and month swapped, or two neighbouring digits
MAX_FAMILY_PARTS = 8  # blocking keys from at most this many parts of a family name


def fold(text: str) -> str:
    """Lowercase letters and single spaces, accents removed: "López-Ruiz" -> "lopez ruiz"."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z]+", " ", plain).split())


def digits(text: str | None, keep: int = 10) -> str | None:
    """A phone number's last `keep` digits (country codes and punctuation aside)."""
    found = re.sub(r"\D", "", text or "")
    return found[-keep:] if len(found) >= 5 else None


def id_key(text: str | None) -> str | None:
    found = re.sub(r"[^0-9A-Za-z]", "", text or "").upper()
    return found or None


@dataclass(frozen=True)
class Identity:
    """What matching compares, already normalised (as stored in `client_match`)."""

    given: str
    family: str
    born: date
    phone: str | None = None
    id_number: str | None = None

    @classmethod
    def of(
        cls,
        given_name: str,
        family_name: str,
        date_of_birth: date,
        phone: str | None = None,
        id_number: str | None = None,
    ) -> Identity:
        return cls(
            fold(given_name),
            fold(family_name),
            date_of_birth,
            digits(phone),
            id_key(id_number),
        )

    def sounds(self) -> dict[str, str]:
        """The metaphone of every word and whole of the names, as `score` compares them:
        stored beside the match row so PostgreSQL scores a pair without a metaphone of
        its own (fuzzystrmatch's differs from jellyfish's)."""
        words = {self.given, self.family, *self.given.split(" "), *self.family.split(" ")}
        return {word: jellyfish.metaphone(word) for word in sorted(words) if word}

    def keys(self) -> set[str]:
        """Blocking keys: two identities worth scoring share at least one."""
        born = self.born.strftime("%Y%m%d")
        found = {"d:" + "".join(sorted(born))}
        given = jellyfish.metaphone(self.given.split(" ")[0]) if self.given else ""
        for token in self.family.split(" ")[:MAX_FAMILY_PARTS]:
            if token:
                found.add(f"n:{jellyfish.metaphone(token)}|{given}")
        if self.phone:
            found.add("p:" + self.phone)
        if self.id_number:
            found.add("i:" + self.id_number)
        return found


@dataclass(frozen=True)
class Match:
    score: int
    signals: tuple[str, ...]  # coded: name, name_sound, birth, birth_transposed, phone, id


def _similar(a: str, b: str) -> float:
    """Edit-distance similarity, lifted when the two sound alike."""
    if not a or not b:
        return 0.0
    similarity = JaroWinkler.similarity(a, b)
    if similarity < 0.9 and jellyfish.metaphone(a) == jellyfish.metaphone(b):
        similarity = 0.9
    return similarity


def _family(a: str, b: str) -> float:
    """Family names: the whole, or the best pair of their parts (a double-barrelled
    name entered once in full and once in part)."""
    parts = [_similar(x, y) for x, y in product(a.split(" "), b.split(" "))]
    return max([_similar(a, b), *parts])


def _given(a: str, b: str) -> float:
    """Given names: the whole, or the first names (a middle name given once only)."""
    return max(_similar(a, b), _similar(a.split(" ")[0], b.split(" ")[0]))


def transposed(a: date, b: date) -> bool:
    """Day and month swapped, or two neighbouring digits of YYYYMMDD swapped."""
    if (a.year, a.month, a.day) == (b.year, b.day, b.month):
        return True
    x, y = a.strftime("%Y%m%d"), b.strftime("%Y%m%d")
    differ = [i for i in range(8) if x[i] != y[i]]
    return (
        len(differ) == 2
        and differ[1] == differ[0] + 1
        and x[differ[0]] == y[differ[1]]
        and (x[differ[1]] == y[differ[0]])
    )


def score(a: Identity, b: Identity) -> Match:
    """How likely `a` and `b` are one person, 0-100, and which signals agreed."""
    signals: list[str] = []
    straight = (_given(a.given, b.given) + _family(a.family, b.family)) / 2
    swapped = (_given(a.given, b.family) + _family(a.family, b.given)) / 2
    name = max(straight, swapped)
    if name >= 0.999:
        signals.append("name")
    elif name >= 0.85:
        signals.append("name_similar")
    if a.born == b.born:
        birth = 1.0
        signals.append("birth")
    elif transposed(a.born, b.born):
        birth = TRANSPOSED_BIRTH
        signals.append("birth_transposed")
    else:
        birth = 0.0
    named = min(max((name - NAME_FROM) / (1 - NAME_FROM), 0.0), 1.0)
    total = NAME_WEIGHT * named + BIRTH_WEIGHT * birth
    if a.phone and a.phone == b.phone:
        total += PHONE_BONUS
        signals.append("phone")
    if a.id_number and b.id_number:
        if a.id_number == b.id_number:
            total += ID_BONUS
            signals.append("id")
        else:
            total -= ID_CONFLICT
            signals.append("id_differs")
    return Match(round(100 * min(max(total, 0.0), 1.0)), tuple(signals))
