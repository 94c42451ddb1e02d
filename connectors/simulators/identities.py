"""Personal ids and Vietnamese names as the registries issue them, for the source simulators.

A personal identification number (CCCD) is ``0`` + the two-digit code of the province where the
birth was registered, a digit for century and gender (0/1 born 1900-1999 male/female, 2/3
2000-2099, ...), the last two digits of the birth year and a six-digit sequence drawn at random
within that prefix. There is no check digit. Every simulator builds ids here, so the population
register and the sources that name its people agree on them. Names follow the naming fashions
of a north-central province: the generation born before :data:`YOUNGER_GENERATION_FROM` got
older names.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from connectors.simulators import vietnamese_names as vn

YOUNGER_GENERATION_FROM = 1985
FIRST_ID_YEAR = 1900
LAST_ID_YEAR = 2399  # digit 4 runs out (0-9) after the 2300s
SEQUENCE_RANGE = (1, 1_000_000)  # 000001-999999; 000000 is never issued
SEQUENCE_SPACE = range(*SEQUENCE_RANGE)
SEQUENCES = len(SEQUENCE_SPACE)
PREFIX_LENGTH = 6  # "0" + province + century and gender + year digits


def century_gender_digit(birth_year: int, female: bool) -> int:
    """Digit 4 of a personal id: the century of birth, even for men and odd for women.

    Args:
        birth_year: Year of birth, 1900-2399.
        female: Whether the person is a woman.

    Raises:
        ValueError: If the year has no century digit.
    """
    if not FIRST_ID_YEAR <= birth_year <= LAST_ID_YEAR:
        raise ValueError(f"a personal id cannot encode the birth year {birth_year}")
    return (birth_year // 100 - 19) * 2 + int(female)


def id_prefix(province_code: str, birth_year: int, female: bool) -> str:
    """The first six digits of a personal id: province, century and gender, year of birth.

    Args:
        province_code: Two-digit province code (pre-2025 codes stay valid in ids).
        birth_year: Year of birth, 1900-2399.
        female: Whether the person is a woman.

    Raises:
        ValueError: If the province code is not two digits or the year has no century digit.
    """
    if not (len(province_code) == 2 and province_code.isascii() and province_code.isdigit()):
        raise ValueError(f"province code {province_code!r} is not two digits")
    return f"0{province_code}{century_gender_digit(birth_year, female)}{birth_year % 100:02d}"


class PersonalIdIssuer:
    """Issues personal ids, never the same one twice within one simulated source."""

    def __init__(self, rng: random.Random) -> None:
        """Start with no id issued.

        Args:
            rng: The simulator's random generator, so ids follow its seed.
        """
        self._rng = rng
        self._issued: set[str] = set()
        # Issued ids per prefix, so that a full prefix is refused rather than searched forever.
        self._per_prefix: Counter[str] = Counter()

    def __contains__(self, personal_id: object) -> bool:
        return personal_id in self._issued

    def reserve(self, personal_ids: Iterable[str]) -> None:
        """Treat ``personal_ids`` as issued: people who hold them already, such as a register's.

        Args:
            personal_ids: Ids no one else may receive, well formed or not.
        """
        self._take(personal_ids)

    def issue(self, province_code: str, birth_year: int, female: bool) -> str:
        """A new id for a person whose birth was registered in ``province_code``.

        Args:
            province_code: Two-digit province code (pre-2025 codes stay valid in ids).
            birth_year: Year of birth, 1900-2399.
            female: Whether the person is a woman.

        Raises:
            ValueError: If the province code is not two digits or the year has no century digit.
        """
        prefix = id_prefix(province_code, birth_year, female)
        if self._per_prefix[prefix] >= SEQUENCES:
            raise ValueError(f"every id with the prefix {prefix} is issued")
        while True:
            candidate = f"{prefix}{self._rng.randrange(*SEQUENCE_RANGE):06d}"
            if candidate not in self._issued:
                self._take((candidate,))
                return candidate

    def issue_many(
        self, province_code: str, birth_year: int, female: bool, count: int
    ) -> list[str]:
        """``count`` new ids sharing one prefix, in ascending order.

        Drawing a prefix's sequences at once is much cheaper than one by one when a whole
        population is issued, and ascending ids let a register be written in key order.

        Args:
            province_code: Two-digit province code (pre-2025 codes stay valid in ids).
            birth_year: Year of birth, 1900-2399.
            female: Whether the people are women.
            count: How many ids, at least 0.

        Raises:
            ValueError: If the province code is not two digits, the year has no century digit,
                or the prefix has fewer than ``count`` ids left.
        """
        prefix = id_prefix(province_code, birth_year, female)
        if count < 0 or count > SEQUENCES - self._per_prefix[prefix]:
            raise ValueError(f"cannot issue {count} more ids with the prefix {prefix}")
        fresh: set[str] = set()
        while len(fresh) < count:
            for sequence in self._rng.sample(SEQUENCE_SPACE, count - len(fresh)):
                candidate = f"{prefix}{sequence:06d}"
                if candidate not in self._issued:
                    fresh.add(candidate)
        self._issued |= fresh
        self._per_prefix[prefix] += len(fresh)
        return sorted(fresh)

    def _take(self, personal_ids: Iterable[str]) -> None:
        for personal_id in personal_ids:
            if personal_id not in self._issued:
                self._issued.add(personal_id)
                self._per_prefix[personal_id[:PREFIX_LENGTH]] += 1

    def mismatched(self, personal_id: str, variant: int) -> tuple[str, str]:
        """A well-formed id whose digits disagree with the person ``personal_id`` belongs to.

        The result is reserved like an issued id, so no one else receives it.

        Args:
            personal_id: The person's correct id.
            variant: 0 flips the gender digit, 1 the century, 2 changes the year digits;
                larger values cycle.

        Returns:
            The wrong id and what is wrong with it (``"gender digit"``, ``"century digit"`` or
            ``"year digits"``).
        """
        century_gender = int(personal_id[3])
        original = personal_id
        while True:
            match variant % 3:
                case 0:
                    candidate = f"{original[:3]}{century_gender ^ 1}{original[4:]}"
                    detail = "gender digit"
                case 1:
                    candidate = f"{original[:3]}{century_gender ^ 2}{original[4:]}"
                    detail = "century digit"
                case _:
                    year = (int(original[4:6]) + self._rng.randint(1, 9)) % 100
                    candidate = f"{original[:4]}{year:02d}{original[6:]}"
                    detail = "year digits"
            if candidate not in self._issued:
                self._take((candidate,))
                return candidate, detail
            # Someone holds that id already: another sequence keeps the same defect.
            original = f"{original[:6]}{self._rng.randrange(*SEQUENCE_RANGE):06d}"


@dataclass(frozen=True)
class _Weighted:
    values: tuple[str, ...]
    cum_weights: tuple[float, ...]

    @classmethod
    def of(cls, pairs: Sequence[tuple[str, float]]) -> _Weighted:
        return cls(
            tuple(value for value, _ in pairs), tuple(accumulate(weight for _, weight in pairs))
        )

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self.values, cum_weights=self.cum_weights)[0]


_FAMILY = _Weighted.of(vn.FAMILY_NAMES)
# Keyed by (female, born before YOUNGER_GENERATION_FROM).
_MIDDLE: dict[tuple[bool, bool], _Weighted] = {
    (False, True): _Weighted.of(vn.MIDDLE_NAMES_MALE_OLDER),
    (False, False): _Weighted.of(vn.MIDDLE_NAMES_MALE_YOUNGER),
    (True, True): _Weighted.of(vn.MIDDLE_NAMES_FEMALE_OLDER),
    (True, False): _Weighted.of(vn.MIDDLE_NAMES_FEMALE_YOUNGER),
}
_GIVEN: dict[tuple[bool, bool], tuple[str, ...]] = {
    (False, True): vn.GIVEN_NAMES_MALE_OLDER,
    (False, False): vn.GIVEN_NAMES_MALE_YOUNGER,
    (True, True): vn.GIVEN_NAMES_FEMALE_OLDER,
    (True, False): vn.GIVEN_NAMES_FEMALE_YOUNGER,
}


def family_name(rng: random.Random) -> str:
    """A family name drawn by its rough national share."""
    return _FAMILY.pick(rng)


def full_name(rng: random.Random, family: str, female: bool, birth_year: int) -> str:
    """``family`` + a middle and a given name of the person's gender and generation (NFC)."""
    generation = (female, birth_year < YOUNGER_GENERATION_FROM)
    return f"{family} {_MIDDLE[generation].pick(rng)} {rng.choice(_GIVEN[generation])}"


# Hà Tĩnh is almost entirely Kinh; the others are small but real minorities of the province.
ETHNICITIES: tuple[tuple[str, float], ...] = (
    ("Kinh", 98.4),
    ("Mường", 0.4),
    ("Thái", 0.3),
    ("Chứt", 0.25),
    ("Lào", 0.2),
    ("Tày", 0.2),
    ("Nùng", 0.15),
    ("Hoa", 0.1),
)
_ETHNICITY = _Weighted.of(ETHNICITIES)


def ethnicity(rng: random.Random) -> str:
    """An ethnic group drawn by its share of Hà Tĩnh's population."""
    return _ETHNICITY.pick(rng)
