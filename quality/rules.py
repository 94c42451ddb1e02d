"""Record rules: per-record checks of Vietnamese identifiers, dates, reference codes and text.

The stream validator runs a dataset's :class:`RuleSet` on every decoded record. Rules are
declared in the catalogue (``rules:``), looked up by name in a registry and compiled once per
dataset into closures, so a record that passes allocates nothing but its empty failure list.

Failure rule names are stable (they go into dead-letter headers and the quarantine table):

- ``required``: a required field is missing or blank.
- ``personal_id.shape``, ``personal_id.province``, ``personal_id.century``,
  ``personal_id.birth_year``, ``personal_id.gender``: the personal id (CCCD) and its
  agreement with the date of birth and gender.
- ``date.not_in_future``: a date after today (Vietnam time).
- ``admin_unit.unknown``: a code absent from the unit list in force on the event date;
  ``admin_unit.as_of_missing``: the event date needed to pick that list is missing.
- ``text.nfc``: text not in Unicode NFC.

A new rule is a factory decorated with :func:`rule`; it reads its parameters through
:class:`RuleParams` and returns a :data:`Check`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from typing import Any, Final, cast, get_args

from schemas.catalogue import Dataset, FieldColumn, leaf_fields
from schemas.reference import AdminUnits, Level, load_admin_units

# Vietnam keeps UTC+7 all year, so a fixed offset needs no time-zone database.
VN_TZ: Final = timezone(timedelta(hours=7), "ICT")

_TEMPORAL_TYPES: Final = frozenset(
    {
        "date",
        "timestamp-millis",
        "timestamp-micros",
        "local-timestamp-millis",
        "local-timestamp-micros",
    }
)
_LEVEL_VI: Final[dict[str, str]] = {
    "province": "cấp tỉnh",
    "district": "cấp huyện",
    "commune": "cấp xã",
}
_GENDER_VI: Final[dict[str, str]] = {"MALE": "nam", "FEMALE": "nữ"}


@dataclass(frozen=True, slots=True)
class Failure:
    """One rule a record breaks.

    Attributes:
        rule: Stable dotted rule name, e.g. ``personal_id.century``.
        field: Dotted path of the offending field.
        reason: What is wrong, in English, with the offending value.
        reason_vi: The same in Vietnamese (NFC).
    """

    rule: str
    field: str
    reason: str
    reason_vi: str


Check = Callable[[dict[str, Any]], Iterable[Failure]]
"""A compiled rule: the failures of one decoded record (empty when it passes)."""

# Returned by every passing check, so passing records allocate nothing.
_PASS: Final[tuple[Failure, ...]] = ()


class RuleConfigError(ValueError):
    """A catalogue rule is unknown or has bad parameters."""


def vietnam_today() -> date:
    """Today's date in Vietnam (UTC+7)."""
    return datetime.now(VN_TZ).date()


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What rule factories may need besides their parameters.

    Attributes:
        today: Returns the date "today" means; called per check, so a long-running validator
            moves on at midnight.
        admin_units: The versioned administrative unit lists.
    """

    today: Callable[[], date]
    admin_units: AdminUnits


class RuleParams:
    """A rule's catalogue parameters, checked as a factory reads them.

    Field paths are checked against the dataset's schema when one is given; parameters no
    factory read are reported by :meth:`unread`.
    """

    def __init__(
        self, params: Mapping[str, Any], fields: Mapping[str, FieldColumn | None] | None = None
    ) -> None:
        """Wrap raw parameters.

        Args:
            params: The rule's parameters as the catalogue gives them.
            fields: Every field path of the dataset's schema (records map to ``None``), or
                ``None`` to accept any path.
        """
        self._params = dict(params)
        self._fields = fields
        self._read: set[str] = set()

    def _path(self, name: str, value: Any, *, temporal: bool) -> str:
        if not isinstance(value, str) or not value:
            raise RuleConfigError(f"parameter {name!r} must be a field path, got {value!r}")
        if self._fields is None:
            return value
        if value not in self._fields:
            raise RuleConfigError(f"parameter {name!r}: the schema has no field {value!r}")
        column = self._fields[value]
        if temporal and (column is None or column.logical_type not in _TEMPORAL_TYPES):
            raise RuleConfigError(f"parameter {name!r}: field {value!r} is not a date or timestamp")
        return value

    def optional_field(self, name: str, *, temporal: bool = False) -> str | None:
        """The field path in parameter ``name``, or ``None`` when it is not given.

        Args:
            name: Parameter name.
            temporal: Require a date or timestamp field.
        """
        self._read.add(name)
        value = self._params.get(name)
        return None if value is None else self._path(name, value, temporal=temporal)

    def field(self, name: str = "field", *, temporal: bool = False) -> str:
        """The field path in the required parameter ``name``.

        Args:
            name: Parameter name.
            temporal: Require a date or timestamp field.
        """
        path = self.optional_field(name, temporal=temporal)
        if path is None:
            raise RuleConfigError(f"missing parameter {name!r}")
        return path

    def fields(self, name: str = "fields") -> tuple[str, ...]:
        """The non-empty list of field paths in the required parameter ``name``."""
        self._read.add(name)
        value = self._params.get(name)
        if not isinstance(value, list | tuple) or not value:
            raise RuleConfigError(f"parameter {name!r} must be a non-empty list of field paths")
        return tuple(self._path(name, item, temporal=False) for item in value)

    def choice(self, name: str, options: Sequence[str], default: str) -> str:
        """The value of parameter ``name``, one of ``options`` (``default`` when not given)."""
        self._read.add(name)
        value = self._params.get(name, default)
        if value not in options:
            raise RuleConfigError(
                f"parameter {name!r} must be one of {', '.join(options)}; got {value!r}"
            )
        return value

    def unread(self) -> list[str]:
        """Parameters given but never read (usually a misspelt name)."""
        return sorted(set(self._params) - self._read)


RuleFactory = Callable[[RuleParams, RuleContext], Check]
_REGISTRY: dict[str, RuleFactory] = {}


def rule(name: str) -> Callable[[RuleFactory], RuleFactory]:
    """Register a rule factory under the name the catalogue uses.

    Args:
        name: The catalogue's ``rule:`` value.

    Returns:
        A decorator that registers the factory and returns it unchanged.
    """

    def register(factory: RuleFactory) -> RuleFactory:
        if name in _REGISTRY:
            raise ValueError(f"rule {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return register


def registered_rules() -> list[str]:
    """Names of every registered rule."""
    return sorted(_REGISTRY)


class RuleSet:
    """The compiled record rules of one dataset."""

    __slots__ = ("_checks", "dataset_id", "rule_names")

    def __init__(self, dataset_id: str, checks: Sequence[tuple[str, Check]]) -> None:
        """Hold compiled checks; use :meth:`for_dataset` to build them from the catalogue.

        Args:
            dataset_id: The catalogue id the rules belong to.
            checks: ``(rule name, check)`` pairs in catalogue order.
        """
        self.dataset_id = dataset_id
        self.rule_names = tuple(name for name, _ in checks)
        self._checks = tuple(check for _, check in checks)

    @classmethod
    def for_dataset(cls, dataset: Dataset, *, today: date | None = None) -> RuleSet:
        """Compile the rules the catalogue declares for ``dataset``.

        Args:
            dataset: The catalogue entry.
            today: A fixed "today" (tests, replays); by default the current date in Vietnam,
                read on every check.

        Raises:
            RuleConfigError: A rule is unknown, misses a parameter, has an unexpected one, or
                names a field the dataset's schema does not have.
        """
        try:
            schema_fields = _schema_fields(dataset)
        except (OSError, ValueError) as exc:
            raise RuleConfigError(f"dataset {dataset.id!r}: cannot read its schema: {exc}") from exc
        context = RuleContext(
            today=vietnam_today if today is None else (lambda: today),
            admin_units=load_admin_units(),
        )
        checks: list[tuple[str, Check]] = []
        for index, spec in enumerate(dataset.rules):
            where = f"dataset {dataset.id!r}, rule {spec.rule!r} (rules[{index}])"
            factory = _REGISTRY.get(spec.rule)
            if factory is None:
                known = ", ".join(registered_rules())
                raise RuleConfigError(f"{where}: unknown rule; known rules: {known}")
            params = RuleParams(spec.params, schema_fields)
            try:
                checks.append((spec.rule, factory(params, context)))
            except RuleConfigError as exc:
                raise RuleConfigError(f"{where}: {exc}") from exc
            if unread := params.unread():
                raise RuleConfigError(f"{where}: unexpected parameter(s) {', '.join(unread)}")
        return cls(dataset.id, checks)

    def check(self, record: dict[str, Any]) -> list[Failure]:
        """Every failure of ``record`` (a decoded Avro dict), in catalogue order."""
        failures: list[Failure] = []
        for check in self._checks:
            found = check(record)
            if found:
                failures.extend(found)
        return failures

    def __repr__(self) -> str:
        return f"RuleSet({self.dataset_id!r}, rules={list(self.rule_names)!r})"


def _schema_fields(dataset: Dataset) -> dict[str, FieldColumn | None]:
    """Leaf paths of the dataset's schema, plus the nested records that hold them."""
    fields: dict[str, FieldColumn | None] = {}
    for leaf in leaf_fields(dataset.avro_schema()):
        parts = leaf.path.split(".")
        for depth in range(1, len(parts)):
            fields.setdefault(".".join(parts[:depth]), None)
        fields[leaf.path] = leaf
    return fields


def _getter(path: str) -> Callable[[dict[str, Any]], Any]:
    """A compiled :func:`schemas.catalogue.get_path` for one path."""
    if "." not in path:
        return lambda record: record.get(path)
    parts = tuple(path.split("."))

    def get(record: dict[str, Any]) -> Any:
        value: Any = record
        for part in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    return get


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and (not value or value.isspace()))


def _local_date(value: date) -> date:
    """The calendar date of a date or timestamp, in Vietnam time when the timestamp is aware."""
    if isinstance(value, datetime):
        return (value.astimezone(VN_TZ) if value.tzinfo else value).date()
    return value


def _vi_date(value: date) -> str:
    return f"{value:%d/%m/%Y}"


# --- personal id (CCCD) ----------------------------------------------------------------------


@cache
def _province_prefixes() -> frozenset[str]:
    """Three-digit id prefixes of every province, pre-2025 provinces included."""
    return frozenset(f"{int(code):03d}" for code in load_admin_units().province_codes())


def _personal_id(
    field: str,
    value: Any,
    birth_date: Any,
    gender: Any,
    birth_field: str,
    gender_field: str,
) -> Sequence[Failure]:
    """Failures of one present personal id; ``_PASS`` when it is good."""
    if not (isinstance(value, str) and len(value) == 12 and value.isascii() and value.isdigit()):
        return [
            Failure(
                "personal_id.shape",
                field,
                f"{field} {value!r} is not exactly 12 digits",
                f"{field} {value!r} không phải là dãy đúng 12 chữ số",
            )
        ]
    failures: list[Failure] | None = None
    prefix = value[:3]
    if prefix not in _province_prefixes():
        failures = [
            Failure(
                "personal_id.province",
                field,
                f"{field} {value}: digits 1-3 {prefix!r} are not a province code",
                f"{field} {value}: ba chữ số đầu {prefix!r} không phải là mã tỉnh",
            )
        ]
    # Digit 4 encodes century and gender: 0/1 = 1900s, 2/3 = 2000s, ...; even male, odd female.
    digit = ord(value[3]) - 48
    if isinstance(birth_date, date):
        year = birth_date.year
        first_year = 1900 + 100 * (digit // 2)
        if not first_year <= year < first_year + 100:
            failures = failures or []
            failures.append(
                Failure(
                    "personal_id.century",
                    field,
                    f"{field} {value}: digit 4 is {digit} (born {first_year}-{first_year + 99}) "
                    f"but {birth_field} is {birth_date:%Y-%m-%d}",
                    f"{field} {value}: chữ số thứ 4 là {digit} (sinh năm {first_year}–"
                    f"{first_year + 99}) nhưng {birth_field} là {_vi_date(birth_date)}",
                )
            )
        if value[4:6] != f"{year % 100:02d}":
            failures = failures or []
            failures.append(
                Failure(
                    "personal_id.birth_year",
                    field,
                    f"{field} {value}: digits 5-6 {value[4:6]!r} do not match the birth year "
                    f"{year} in {birth_field}",
                    f"{field} {value}: chữ số thứ 5–6 {value[4:6]!r} không khớp với năm sinh "
                    f"{year} ({birth_field})",
                )
            )
    if gender is not None:
        coded = "FEMALE" if digit % 2 else "MALE"
        if gender != coded:
            failures = failures or []
            failures.append(
                Failure(
                    "personal_id.gender",
                    field,
                    f"{field} {value}: digit 4 is {digit} ({coded.lower()}) "
                    f"but {gender_field} is {gender}",
                    f"{field} {value}: chữ số thứ 4 là {digit} ({_GENDER_VI[coded]}) "
                    f"nhưng {gender_field} là {_GENDER_VI.get(gender, gender)}",
                )
            )
    return failures or _PASS


def personal_id_failures(
    value: Any,
    birth_date: date | None = None,
    gender: str | None = None,
    *,
    field: str = "personal_id",
    birth_field: str = "date_of_birth",
    gender_field: str = "gender",
) -> list[Failure]:
    """Check a personal identification number (CCCD) and its agreement with the person.

    Shape: exactly 12 ASCII digits. Digits 1-3: a province code (pre-2025 provinces stay
    valid). Digit 4 against ``birth_date`` (century) and ``gender`` (even male, odd female);
    digits 5-6 against the birth year. The cross-field checks run only when the shape is
    right and the related value is given. There is no check digit.

    Args:
        value: The id as received; ``None`` or blank means absent and passes.
        birth_date: The person's date of birth, if known.
        gender: ``"MALE"`` or ``"FEMALE"``, if known.
        field: Field path named in the failures.
        birth_field: Field path of the date of birth, for the reasons.
        gender_field: Field path of the gender, for the reasons.

    Returns:
        Every failure found; empty when the id is good or absent.
    """
    if _is_blank(value):
        return []
    return list(_personal_id(field, value, birth_date, gender, birth_field, gender_field))


# --- rules -----------------------------------------------------------------------------------


@rule("required")
def _required(params: RuleParams, context: RuleContext) -> Check:
    """``fields``: each must be present and, when text, not blank."""
    getters = tuple((path, _getter(path)) for path in params.fields())

    def check(record: dict[str, Any]) -> Sequence[Failure]:
        failures: list[Failure] | None = None
        for path, get in getters:
            value = get(record)
            if _is_blank(value):
                failures = failures or []
                if value is None:
                    failures.append(
                        Failure("required", path, f"{path} is missing", f"thiếu {path}")
                    )
                else:
                    failures.append(
                        Failure(
                            "required", path, f"{path} is blank ({value!r})", f"{path} để trống"
                        )
                    )
        return failures or _PASS

    return check


@rule("personal_id")
def _personal_id_rule(params: RuleParams, context: RuleContext) -> Check:
    """``field``: a personal id; optional ``birth_date`` and ``gender`` fields to agree with.

    An absent or blank id passes: whether it must be present is the ``required`` rule's job.
    """
    path = params.field()
    birth_path = params.optional_field("birth_date", temporal=True)
    gender_path = params.optional_field("gender")
    get = _getter(path)
    get_birth = _getter(birth_path) if birth_path else None
    get_gender = _getter(gender_path) if gender_path else None

    def check(record: dict[str, Any]) -> Sequence[Failure]:
        value = get(record)
        if _is_blank(value):
            return _PASS
        return _personal_id(
            path,
            value,
            get_birth(record) if get_birth else None,
            get_gender(record) if get_gender else None,
            birth_path or "",
            gender_path or "",
        )

    return check


@rule("not_in_future")
def _not_in_future(params: RuleParams, context: RuleContext) -> Check:
    """``field``: a date or timestamp that may not fall after today (Vietnam time)."""
    path = params.field(temporal=True)
    get = _getter(path)
    today = context.today

    def check(record: dict[str, Any]) -> Sequence[Failure]:
        value = get(record)
        if value is None:
            return _PASS
        day = _local_date(value)
        now = today()
        if day <= now:
            return _PASS
        return [
            Failure(
                "date.not_in_future",
                path,
                f"{path} {value.isoformat()} is in the future (today is {now.isoformat()})",
                f"{path} {_vi_date(day)} là ngày trong tương lai (hôm nay là {_vi_date(now)})",
            )
        ]

    return check


@rule("admin_unit")
def _admin_unit(params: RuleParams, context: RuleContext) -> Check:
    """``field``: a unit code that must exist in the list in force on the ``as_of`` field's date.

    ``level`` is ``commune`` unless given. An absent or blank code passes (``required`` decides
    whether it may be absent): codes were reused after the 2025 merger, so only the event
    date tells which list a code belongs to.
    """
    path = params.field()
    as_of_path = params.field("as_of", temporal=True)
    level = cast(Level, params.choice("level", get_args(Level), "commune"))
    get = _getter(path)
    get_as_of = _getter(as_of_path)
    units = context.admin_units
    level_vi = _LEVEL_VI[level]

    def check(record: dict[str, Any]) -> Sequence[Failure]:
        code = get(record)
        if _is_blank(code):
            return _PASS
        as_of = get_as_of(record)
        if as_of is None:
            return [
                Failure(
                    "admin_unit.as_of_missing",
                    path,
                    f"{path} {code!r} cannot be checked: {as_of_path}, the date that picks the "
                    f"{level} list, is missing",
                    f"không kiểm tra được {path} {code!r}: thiếu {as_of_path} (ngày dùng để chọn "
                    f"danh mục đơn vị hành chính {level_vi})",
                )
            ]
        on = _local_date(as_of)
        if units.get(code, level, on) is not None:
            return _PASS
        list_id = AdminUnits.list_for(on).list_id
        return [
            Failure(
                "admin_unit.unknown",
                path,
                f"{path} {code!r} is not a {level} code in the list in force on "
                f"{on.isoformat()} ({list_id}, per {as_of_path})",
                f"{path} {code!r} không phải là mã đơn vị hành chính {level_vi} trong danh mục "
                f"có hiệu lực ngày {_vi_date(on)} (theo {as_of_path})",
            )
        ]

    return check


@rule("nfc")
def _nfc(params: RuleParams, context: RuleContext) -> Check:
    """``fields``: text that must be in Unicode NFC (Vietnamese diacritics precomposed)."""
    getters = tuple((path, _getter(path)) for path in params.fields())
    is_nfc = unicodedata.is_normalized

    def check(record: dict[str, Any]) -> Sequence[Failure]:
        failures: list[Failure] | None = None
        for path, get in getters:
            value = get(record)
            if isinstance(value, str) and not is_nfc("NFC", value):
                composed = unicodedata.normalize("NFC", value)
                failures = failures or []
                failures.append(
                    Failure(
                        "text.nfc",
                        path,
                        f"{path} {composed!r} is not Unicode NFC: {len(value)} code points "
                        f"where NFC has {len(composed)}",
                        f"{path} {composed!r} chưa chuẩn hoá Unicode NFC: {len(value)} điểm mã "
                        f"thay vì {len(composed)}",
                    )
                )
        return failures or _PASS

    return check
