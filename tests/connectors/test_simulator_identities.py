"""Personal ids as every simulator issues them: one construction, never the same id twice."""

from __future__ import annotations

import random
import re

import pytest

from connectors.simulators import identities as ids


@pytest.mark.parametrize(
    ("province", "year", "female", "prefix"),
    [
        ("42", 1987, False, "042087"),
        ("42", 1987, True, "042187"),
        ("01", 2003, False, "001203"),
        ("79", 2003, True, "079303"),
        ("40", 1900, True, "040100"),
        ("38", 2100, False, "038400"),
    ],
)
def test_the_prefix_encodes_province_century_gender_and_year(
    province: str, year: int, female: bool, prefix: str
) -> None:
    assert ids.id_prefix(province, year, female) == prefix


@pytest.mark.parametrize(("province", "year"), [("042", 1990), ("4", 1990), ("4a", 1990)])
def test_a_malformed_province_code_is_refused(province: str, year: int) -> None:
    with pytest.raises(ValueError, match="two digits"):
        ids.id_prefix(province, year, False)


def test_a_year_without_a_century_digit_is_refused() -> None:
    with pytest.raises(ValueError, match="1899"):
        ids.id_prefix("42", 1899, False)


def test_many_ids_come_ascending_unique_and_never_again() -> None:
    issuer = ids.PersonalIdIssuer(random.Random(3))
    first = issuer.issue_many("42", 1990, True, 500)
    assert first == sorted(first)
    assert len(set(first)) == 500
    assert all(re.fullmatch(r"042190\d{6}", personal_id) for personal_id in first)
    assert all(personal_id[6:] != "000000" for personal_id in first)
    again = issuer.issue_many("42", 1990, True, 500)
    assert not set(first) & set(again)
    single = [issuer.issue("42", 1990, True) for _ in range(200)]
    assert not set(single) & (set(first) | set(again))
    assert all(personal_id in issuer for personal_id in first + again + single)


def test_the_same_seed_issues_the_same_ids() -> None:
    def issued(seed: int) -> list[str]:
        issuer = ids.PersonalIdIssuer(random.Random(seed))
        return [*issuer.issue_many("40", 1975, False, 50), issuer.issue("42", 2001, True)]

    assert issued(8) == issued(8)
    assert issued(8) != issued(9)


def test_reserved_ids_are_never_issued() -> None:
    # A prefix with only a handful of sequences left: every free one must come out.
    taken = [f"042095{sequence:06d}" for sequence in range(1, ids.SEQUENCES - 4)]
    issuer = ids.PersonalIdIssuer(random.Random(1))
    issuer.reserve(taken)
    last = issuer.issue_many("42", 1995, False, 5)
    assert last == [f"042095{sequence:06d}" for sequence in range(ids.SEQUENCES - 4, 1_000_000)]
    with pytest.raises(ValueError, match="042095"):
        issuer.issue("42", 1995, False)
    with pytest.raises(ValueError, match="042095"):
        issuer.issue_many("42", 1995, False, 1)


def test_a_mismatched_id_disagrees_in_one_part_and_is_reserved() -> None:
    issuer = ids.PersonalIdIssuer(random.Random(4))
    personal_id = issuer.issue("42", 1988, False)
    gender, gender_detail = issuer.mismatched(personal_id, 0)
    century, century_detail = issuer.mismatched(personal_id, 1)
    year, year_detail = issuer.mismatched(personal_id, 2)
    rest = personal_id[:3] + personal_id[4:]
    assert (gender_detail, gender[3], gender[:3] + gender[4:]) == ("gender digit", "1", rest)
    assert (century_detail, century[3], century[:3] + century[4:]) == ("century digit", "2", rest)
    assert (year_detail, year[:4]) == ("year digits", personal_id[:4])
    assert year[4:6] != "88"
    assert all(wrong in issuer for wrong in (gender, century, year))
