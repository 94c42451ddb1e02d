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
- ``enterprise_code.shape``, ``enterprise_code.sequence``, ``enterprise_code.check_digit``,
  ``enterprise_code.branch_suffix``, ``enterprise_code.parent``: an enterprise (tax) code or
  branch code and its agreement with the head office's code.
- ``agency_id.shape``: not an agency e-ID (QCVN 102:2016).
- ``document_number.shape``, ``document_number.number``, ``document_number.year``: an
  official document's number and symbol (Decree 30/2020/NĐ-CP) and its agreement with the
  issue date.
- ``date.order``: a date after the date it may not follow; ``date.min_age``: a person younger
  than the law allows on a date.
- ``vsic_code.shape``, ``vsic_code.division``: not a VSIC 2018 level-4 code.
- ``array.exactly_one``: not exactly one item of an array has a flag set.

Field paths name schema fields as dotted paths; rules that say so also take ``a[].b``, the
field ``b`` of every item of the array of records ``a``, and name failures ``a[2].b``.

A new rule is a factory decorated with :func:`rule`; it reads its parameters through
:class:`RuleParams` and returns a :data:`Check`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from typing import Any, Final, Literal, cast, get_args

from schemas.catalogue import AGENCY_ID_PATTERN, Dataset, FieldColumn, leaf_fields
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
# Marks an array of records in a field path: ``branches[].commune_code``.
_ITEMS: Final = "[]"
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

    def shortened(self) -> Failure:
        """The failure with its reasons cut to :data:`MAX_REASON_CHARS`.

        Reasons quote the offending value; a value of megabytes would otherwise travel in
        every dead letter's headers and the quarantine table.
        """
        if len(self.reason) <= MAX_REASON_CHARS and len(self.reason_vi) <= MAX_REASON_CHARS:
            return self
        return Failure(self.rule, self.field, _shorten(self.reason), _shorten(self.reason_vi))


MAX_REASON_CHARS: Final = 500


def _shorten(text: str) -> str:
    if len(text) <= MAX_REASON_CHARS:
        return text
    return f"{text[: MAX_REASON_CHARS - 20]}… ({len(text)} characters)"


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

    def _path(self, name: str, value: Any, *, temporal: bool, items: bool, boolean: bool) -> str:
        if not isinstance(value, str) or not value:
            raise RuleConfigError(f"parameter {name!r} must be a field path, got {value!r}")
        if _ITEMS in value and not items:
            raise RuleConfigError(
                f"parameter {name!r}: this rule takes no array item path like {value!r}"
            )
        if self._fields is None:
            return value
        if value not in self._fields:
            raise RuleConfigError(f"parameter {name!r}: the schema has no field {value!r}")
        column = self._fields[value]
        if temporal and (column is None or column.logical_type not in _TEMPORAL_TYPES):
            raise RuleConfigError(f"parameter {name!r}: field {value!r} is not a date or timestamp")
        if boolean and (column is None or column.avro_type != "boolean"):
            raise RuleConfigError(f"parameter {name!r}: field {value!r} is not a boolean")
        return value

    def optional_field(
        self, name: str, *, temporal: bool = False, items: bool = False, boolean: bool = False
    ) -> str | None:
        """The field path in parameter ``name``, or ``None`` when it is not given.

        Args:
            name: Parameter name.
            temporal: Require a date or timestamp field.
            items: Accept an array item path ``a[].b``.
            boolean: Require a boolean field.
        """
        self._read.add(name)
        value = self._params.get(name)
        if value is None:
            return None
        return self._path(name, value, temporal=temporal, items=items, boolean=boolean)

    def field(
        self,
        name: str = "field",
        *,
        temporal: bool = False,
        items: bool = False,
        boolean: bool = False,
    ) -> str:
        """The field path in the required parameter ``name``.

        Args:
            name: Parameter name.
            temporal: Require a date or timestamp field.
            items: Accept an array item path ``a[].b``.
            boolean: Require a boolean field.
        """
        path = self.optional_field(name, temporal=temporal, items=items, boolean=boolean)
        if path is None:
            raise RuleConfigError(f"missing parameter {name!r}")
        return path

    def fields(self, name: str = "fields", *, items: bool = False) -> tuple[str, ...]:
        """The non-empty list of field paths in the required parameter ``name``.

        Args:
            name: Parameter name.
            items: Accept array item paths ``a[].b``.
        """
        self._read.add(name)
        value = self._params.get(name)
        if not isinstance(value, list | tuple) or not value:
            raise RuleConfigError(f"parameter {name!r} must be a non-empty list of field paths")
        return tuple(
            self._path(name, item, temporal=False, items=items, boolean=False) for item in value
        )

    def choice(self, name: str, options: Sequence[str], default: str) -> str:
        """The value of parameter ``name``, one of ``options`` (``default`` when not given)."""
        self._read.add(name)
        value = self._params.get(name, default)
        if value not in options:
            raise RuleConfigError(
                f"parameter {name!r} must be one of {', '.join(options)}; got {value!r}"
            )
        return value

    def optional_choice(self, name: str, options: Sequence[str]) -> str | None:
        """The value of parameter ``name``, one of ``options``, or ``None`` when not given."""
        self._read.add(name)
        if self._params.get(name) is None:
            return None
        return self.choice(name, options, options[0])

    def integer(self, name: str, *, minimum: int) -> int:
        """The whole number in the required parameter ``name``, at least ``minimum``."""
        self._read.add(name)
        value = self._params.get(name)
        # bool is an int subclass; `years: true` is a typo, not 1.
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise RuleConfigError(
                f"parameter {name!r} must be a whole number of at least {minimum}, got {value!r}"
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
                failures.extend(failure.shortened() for failure in found)
        return failures

    def __repr__(self) -> str:
        return f"RuleSet({self.dataset_id!r}, rules={list(self.rule_names)!r})"


def _schema_fields(dataset: Dataset) -> dict[str, FieldColumn | None]:
    """Leaf paths of the dataset's schema, plus the nested records that hold them.

    The fields of the records in an array ``a`` are there too, as ``a[].b``.
    """
    fields: dict[str, FieldColumn | None] = {}

    def add(leaves: list[FieldColumn], prefix: str) -> None:
        for leaf in leaves:
            path = prefix + leaf.path
            parts = leaf.path.split(".")
            for depth in range(1, len(parts)):
                fields.setdefault(prefix + ".".join(parts[:depth]), None)
            fields[path] = leaf.model_copy(update={"path": path}) if prefix else leaf
            items = leaf.avro_type.get("items") if isinstance(leaf.avro_type, dict) else None
            if isinstance(items, dict) and items.get("type") == "record":
                add(leaf_fields(items), f"{path}{_ITEMS}.")

    add(leaf_fields(dataset.avro_schema()), "")
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


def _values(path: str) -> Callable[[dict[str, Any]], Iterator[tuple[str, Any]]]:
    """Every value a path names, each with its concrete path.

    A plain path names one value; ``a[].b`` names ``b`` of every item of ``a``, as
    ``a[0].b``, ``a[1].b``, ... (an absent array names nothing).
    """
    array_path, found, rest = path.partition(f"{_ITEMS}.")
    if not found:
        get = _getter(path)

        def one(record: dict[str, Any]) -> Iterator[tuple[str, Any]]:
            yield path, get(record)

        return one
    get_array = _getter(array_path)
    inner = _values(rest)

    def each(record: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        items = get_array(record)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    for sub_path, value in inner(item):
                        yield f"{array_path}[{index}].{sub_path}", value

    return each


_ValueCheck = Callable[[str, Any, dict[str, Any]], Sequence[Failure]]
"""Failures of one value: ``(concrete path, value, whole record)``."""


def _each(path: str, check_value: _ValueCheck) -> Check:
    """A check running ``check_value`` on every value ``path`` names.

    A plain path costs one call and nothing else, keeping passing records allocation-free.
    """
    if _ITEMS not in path:
        get = _getter(path)
        return lambda record: check_value(path, get(record), record)
    values = _values(path)

    def check(record: dict[str, Any]) -> Sequence[Failure]:
        failures: list[Failure] | None = None
        for concrete, value in values(record):
            found = check_value(concrete, value, record)
            if found:
                failures = failures or []
                failures.extend(found)
        return failures or _PASS

    return check


def _all(checks: Sequence[Check]) -> Check:
    """One check running ``checks`` in order and keeping every failure."""
    if len(checks) == 1:
        return checks[0]

    def check(record: dict[str, Any]) -> Sequence[Failure]:
        failures: list[Failure] | None = None
        for one in checks:
            found = one(record)
            if found:
                failures = failures or []
                failures.extend(found)
        return failures or _PASS

    return check


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and (not value or value.isspace()))


def _local_date(value: date) -> date:
    """The calendar date of a date or timestamp, in Vietnam time when the timestamp is aware."""
    if isinstance(value, datetime):
        if not value.tzinfo:
            return value.date()
        try:
            return value.astimezone(VN_TZ).date()
        except OverflowError:
            # The last hours of 9999-12-31 UTC have no date in Vietnam time; the UTC date
            # still fails every range rule such a timestamp should fail.
            return value.astimezone(UTC).date()
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
    """``fields``: each must be present and, when text, not blank (item paths allowed)."""

    def check_value(where: str, value: Any, record: dict[str, Any]) -> Sequence[Failure]:
        if not _is_blank(value):
            return _PASS
        if value is None:
            return [Failure("required", where, f"{where} is missing", f"thiếu {where}")]
        return [Failure("required", where, f"{where} is blank ({value!r})", f"{where} để trống")]

    return _all([_each(path, check_value) for path in params.fields(items=True)])


@rule("personal_id")
def _personal_id_rule(params: RuleParams, context: RuleContext) -> Check:
    """``field``: a personal id; optional ``birth_date`` and ``gender`` fields to agree with.

    ``gender_is`` (``MALE`` or ``FEMALE``) replaces ``gender`` where the field itself implies
    the gender, as a husband's or a mother's id does. An absent or blank id passes: whether it
    must be present is the ``required`` rule's job.
    """
    path = params.field()
    birth_path = params.optional_field("birth_date", temporal=True)
    gender_path = params.optional_field("gender")
    gender_is = params.optional_choice("gender_is", tuple(_GENDER_VI))
    if gender_path and gender_is:
        raise RuleConfigError("give 'gender' or 'gender_is', not both")
    get = _getter(path)
    get_birth = _getter(birth_path) if birth_path else None
    get_gender = _getter(gender_path) if gender_path else None
    gender_field = "gender_is" if gender_is else gender_path or ""

    def check(record: dict[str, Any]) -> Sequence[Failure]:
        value = get(record)
        if _is_blank(value):
            return _PASS
        return _personal_id(
            path,
            value,
            get_birth(record) if get_birth else None,
            get_gender(record) if get_gender else gender_is,
            birth_path or "",
            gender_field,
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

    ``field`` may be an item path. ``level`` is ``commune`` unless given. An absent or blank
    code passes (``required`` decides whether it may be absent): codes were reused after the
    2025 merger, so only the event date tells which list a code belongs to.
    """
    path = params.field(items=True)
    as_of_path = params.field("as_of", temporal=True)
    level = cast(Level, params.choice("level", get_args(Level), "commune"))
    get_as_of = _getter(as_of_path)
    units = context.admin_units
    level_vi = _LEVEL_VI[level]

    def check_value(where: str, code: Any, record: dict[str, Any]) -> Sequence[Failure]:
        if _is_blank(code):
            return _PASS
        as_of = get_as_of(record)
        if as_of is None:
            return [
                Failure(
                    "admin_unit.as_of_missing",
                    where,
                    f"{where} {code!r} cannot be checked: {as_of_path}, the date that picks the "
                    f"{level} list, is missing",
                    f"không kiểm tra được {where} {code!r}: thiếu {as_of_path} (ngày dùng để chọn "
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
                where,
                f"{where} {code!r} is not a {level} code in the list in force on "
                f"{on.isoformat()} ({list_id}, per {as_of_path})",
                f"{where} {code!r} không phải là mã đơn vị hành chính {level_vi} trong danh mục "
                f"có hiệu lực ngày {_vi_date(on)} (theo {as_of_path})",
            )
        ]

    return _each(path, check_value)


@rule("nfc")
def _nfc(params: RuleParams, context: RuleContext) -> Check:
    """``fields``: text that must be in Unicode NFC (Vietnamese diacritics precomposed).

    Item paths are allowed.
    """
    is_nfc = unicodedata.is_normalized

    def check_value(where: str, value: Any, record: dict[str, Any]) -> Sequence[Failure]:
        if not isinstance(value, str) or is_nfc("NFC", value):
            return _PASS
        composed = unicodedata.normalize("NFC", value)
        return [
            Failure(
                "text.nfc",
                where,
                f"{where} {composed!r} is not Unicode NFC: {len(value)} code points "
                f"where NFC has {len(composed)}",
                f"{where} {composed!r} chưa chuẩn hoá Unicode NFC: {len(value)} điểm mã "
                f"thay vì {len(composed)}",
            )
        ]

    return _all([_each(path, check_value) for path in params.fields(items=True)])


# --- enterprise code (mã số doanh nghiệp) ----------------------------------------------------

_ENTERPRISE_WEIGHTS: Final = (31, 29, 23, 19, 17, 13, 7, 5, 3)
_ENTERPRISE_CODE: Final = re.compile(r"[0-9]{10}")
_BRANCH_CODE: Final = re.compile(r"[0-9]{10}-[0-9]{3}")
EnterpriseCodeKind = Literal["head_office", "branch"]


def enterprise_check_digit(first_nine: str) -> int | None:
    """The check digit of an enterprise code's first nine digits.

    ``10 - (weighted sum mod 11)`` with weights 31, 29, 23, 19, 17, 13, 7, 5, 3.

    Args:
        first_nine: Nine ASCII digits.

    Returns:
        The digit, or ``None`` when the formula gives 10: no valid code starts so.
    """
    total = sum(
        int(digit) * weight for digit, weight in zip(first_nine, _ENTERPRISE_WEIGHTS, strict=True)
    )
    check = 10 - total % 11
    return None if check == 10 else check


def _enterprise_code(
    field: str, value: Any, kind: EnterpriseCodeKind, parent: Any, parent_field: str
) -> Sequence[Failure]:
    """Failures of one present enterprise or branch code; ``_PASS`` when it is good."""
    branch = kind == "branch"
    pattern = _BRANCH_CODE if branch else _ENTERPRISE_CODE
    if not (isinstance(value, str) and pattern.fullmatch(value)):
        form, form_vi = (
            ("a branch code like 0314409058-002", "mã số chi nhánh dạng 0314409058-002")
            if branch
            else ("a 10-digit enterprise code", "mã số doanh nghiệp gồm 10 chữ số")
        )
        return [
            Failure(
                "enterprise_code.shape",
                field,
                f"{field} {value!r} is not {form}",
                f"{field} {value!r} không phải là {form_vi}",
            )
        ]
    failures: list[Failure] | None = None
    head = value[:10]
    if head[2:9] == "0000000":
        failures = [
            Failure(
                "enterprise_code.sequence",
                field,
                f"{field} {value}: the sequence, digits 3-9, is 0000000",
                f"{field} {value}: số thứ tự (chữ số thứ 3–9) là 0000000",
            )
        ]
    expected = enterprise_check_digit(head[:9])
    if expected is None or expected != int(head[9]):
        failures = failures or []
        if expected is None:
            failures.append(
                Failure(
                    "enterprise_code.check_digit",
                    field,
                    f"{field} {value}: digits 1-9 give check value 10, so no valid code "
                    "starts with them",
                    f"{field} {value}: chín chữ số đầu cho giá trị kiểm tra 10 nên không có "
                    "mã hợp lệ nào bắt đầu như vậy",
                )
            )
        else:
            failures.append(
                Failure(
                    "enterprise_code.check_digit",
                    field,
                    f"{field} {value}: check digit is {head[9]}, digits 1-9 give {expected}",
                    f"{field} {value}: chữ số kiểm tra là {head[9]}, theo chín chữ số đầu "
                    f"phải là {expected}",
                )
            )
    if branch and value[11:] == "000":
        failures = failures or []
        failures.append(
            Failure(
                "enterprise_code.branch_suffix",
                field,
                f"{field} {value}: branch suffix 000 is never issued (001-999)",
                f"{field} {value}: hậu tố chi nhánh 000 không bao giờ được cấp (001–999)",
            )
        )
    if branch and isinstance(parent, str) and parent and head != parent:
        failures = failures or []
        failures.append(
            Failure(
                "enterprise_code.parent",
                field,
                f"{field} {value}: a branch of enterprise {head}, not of {parent_field} {parent}",
                f"{field} {value}: là chi nhánh của doanh nghiệp {head}, không phải của "
                f"{parent_field} {parent}",
            )
        )
    return failures or _PASS


def enterprise_code_failures(
    value: Any,
    kind: EnterpriseCodeKind = "head_office",
    *,
    parent: str | None = None,
    field: str = "enterprise_code",
    parent_field: str = "enterprise_code",
) -> list[Failure]:
    """Check an enterprise code (tax code) or a branch code.

    Head office: 10 ASCII digits, a sequence (digits 3-9) other than 0000000 and a check digit
    that agrees with :func:`enterprise_check_digit`. Branch: the head office's code, a hyphen
    and a suffix 001-999; its first ten digits must be a valid code too, and ``parent``'s.

    Args:
        value: The code as received; ``None`` or blank means absent and passes.
        kind: ``"head_office"`` or ``"branch"``.
        parent: For a branch, the enterprise code it must belong to, if known.
        field: Field path named in the failures.
        parent_field: Field path of ``parent``, for the reasons.

    Returns:
        Every failure found; empty when the code is good or absent.
    """
    if _is_blank(value):
        return []
    return list(_enterprise_code(field, value, kind, parent, parent_field))


@rule("enterprise_code")
def _enterprise_code_rule(params: RuleParams, context: RuleContext) -> Check:
    """``field`` (item paths allowed): an enterprise code, or a branch code with ``kind: branch``.

    ``parent`` (branches only): the field holding the enterprise code every branch code must
    start with. An absent or blank code passes.
    """
    path = params.field(items=True)
    kind = cast(
        EnterpriseCodeKind, params.choice("kind", get_args(EnterpriseCodeKind), "head_office")
    )
    parent_path = params.optional_field("parent")
    if parent_path and kind != "branch":
        raise RuleConfigError("'parent' applies to branch codes only (kind: branch)")
    get_parent = _getter(parent_path) if parent_path else None

    def check_value(where: str, value: Any, record: dict[str, Any]) -> Sequence[Failure]:
        if _is_blank(value):
            return _PASS
        parent = get_parent(record) if get_parent else None
        return _enterprise_code(where, value, kind, parent, parent_path or "")

    return _each(path, check_value)


# --- agency e-ID (mã định danh điện tử, QCVN 102:2016) ---------------------------------------


@rule("agency_id")
def _agency_id(params: RuleParams, context: RuleContext) -> Check:
    """``field``: an agency e-ID, ``000.00.00.H25`` or the short form ``H25.151``.

    An absent or blank id passes.
    """
    path = params.field()
    get = _getter(path)
    matches = AGENCY_ID_PATTERN.fullmatch

    def check(record: dict[str, Any]) -> Sequence[Failure]:
        value = get(record)
        if _is_blank(value) or (isinstance(value, str) and matches(value)):
            return _PASS
        return [
            Failure(
                "agency_id.shape",
                path,
                f"{path} {value!r} is not an agency e-ID like 000.00.00.H25 or H25.151 "
                "(QCVN 102:2016)",
                f"{path} {value!r} không phải là mã định danh điện tử của cơ quan dạng "
                "000.00.00.H25 hoặc H25.151 (QCVN 102:2016)",
            )
        ]

    return check


# --- document number and symbol (số, ký hiệu văn bản, Decree 30/2020/NĐ-CP) ------------------

# Abbreviations are capitals, Đ included, then letters or digits: UBND, QĐ, TTg, CTr, BCĐ389.
_ABBR: Final = r"[A-ZĐ][A-Za-zĐđ0-9]*"
# State: 424/QĐ-UBND, 125/UBND-TH; legal normative with its year: 20/2020/QĐ-TTg, 60/2024/QH15.
_STATE_NUMBER: Final = re.compile(
    rf"(?P<number>[0-9]+)/(?:(?P<year>[0-9]{{4}})/{_ABBR}(?:-{_ABBR})*|{_ABBR}(?:-{_ABBR})+)"
)
# Party: 05-NQ/TU, 123-CV/BTGTU.
_PARTY_NUMBER: Final = re.compile(rf"(?P<number>[0-9]+)-{_ABBR}/{_ABBR}(?:-{_ABBR})*")
# Numbers are zero-padded below 10 (05) and carry no other leading zero.
_NUMBER: Final = re.compile(r"0[1-9]|[1-9][0-9]+")
# Ð (U+00D0, Icelandic eth) looks exactly like Đ (U+0110) and slips in from some keyboards.
_ETH: Final = "Ðð"


def _document_number(
    field: str, value: Any, issue_date: Any, issue_field: str
) -> Sequence[Failure]:
    """Failures of one present document number and symbol; ``_PASS`` when it is good."""
    text = unicodedata.normalize("NFC", value) if isinstance(value, str) else ""
    found = _STATE_NUMBER.fullmatch(text) or _PARTY_NUMBER.fullmatch(text)
    if found is None:
        reason = (
            f"{field} {value!r} is not a number and symbol like 424/QĐ-UBND, "
            "20/2020/QĐ-TTg or 05-NQ/TU"
        )
        reason_vi = (
            f"{field} {value!r} không phải là số, ký hiệu văn bản dạng 424/QĐ-UBND, "
            "20/2020/QĐ-TTg hoặc 05-NQ/TU"
        )
        if any(char in text for char in _ETH):
            reason += "; it has Ð (U+00D0, eth) where Đ (U+0110) belongs"
            reason_vi += "; có ký tự Ð (U+00D0) thay cho chữ Đ (U+0110)"
        return [Failure("document_number.shape", field, reason, reason_vi)]
    failures: list[Failure] | None = None
    number = found["number"]
    if not _NUMBER.fullmatch(number):
        failures = [
            Failure(
                "document_number.number",
                field,
                f"{field} {text}: number {number!r} must be 01-09 (zero-padded below 10) "
                "or from 10 up without a leading zero",
                f"{field} {text}: số {number!r} phải là 01–09 (thêm số 0 phía trước khi nhỏ "
                "hơn 10) hoặc từ 10 trở lên, không có số 0 ở đầu",
            )
        ]
    year = found.groupdict().get("year")
    if year is not None and isinstance(issue_date, date):
        issued = _local_date(issue_date)
        if int(year) != issued.year:
            failures = failures or []
            failures.append(
                Failure(
                    "document_number.year",
                    field,
                    f"{field} {text}: year {year} differs from {issue_field} {issued.isoformat()}",
                    f"{field} {text}: năm {year} khác năm ban hành {_vi_date(issued)} "
                    f"({issue_field})",
                )
            )
    return failures or _PASS


def document_number_failures(
    value: Any,
    issue_date: date | None = None,
    *,
    field: str = "number_symbol",
    issue_field: str = "issue_date",
) -> list[Failure]:
    """Check an official document's number and symbol (Decree 30/2020/NĐ-CP).

    Accepted forms, on the NFC text: state documents ``424/QĐ-UBND`` and ``125/UBND-TH``,
    legal normative documents with their year ``20/2020/QĐ-TTg``, Party documents
    ``05-NQ/TU``. The number is zero-padded below 10 (``05``); a year must be the issue year.

    Args:
        value: The number and symbol as received; ``None`` or blank means absent and passes.
        issue_date: The document's issue date, if known.
        field: Field path named in the failures.
        issue_field: Field path of the issue date, for the reasons.

    Returns:
        Every failure found; empty when the value is good or absent.
    """
    if _is_blank(value):
        return []
    return list(_document_number(field, value, issue_date, issue_field))


@rule("document_number")
def _document_number_rule(params: RuleParams, context: RuleContext) -> Check:
    """``field``: a document number and symbol; optional ``issue_date`` its year must match.

    An absent or blank value passes.
    """
    path = params.field()
    issue_path = params.optional_field("issue_date", temporal=True)
    get = _getter(path)
    get_issue = _getter(issue_path) if issue_path else None

    def check(record: dict[str, Any]) -> Sequence[Failure]:
        value = get(record)
        if _is_blank(value):
            return _PASS
        issued = get_issue(record) if get_issue else None
        return _document_number(path, value, issued, issue_path or "")

    return check


# --- dates -----------------------------------------------------------------------------------


def _moment(value: date) -> tuple[str, str]:
    """A date or timestamp for reasons: (ISO 8601, Vietnamese ``dd/mm/yyyy`` in Vietnam time)."""
    if isinstance(value, datetime):
        local = value.astimezone(VN_TZ) if value.tzinfo else value
        return value.isoformat(), f"{local:%H:%M} {_vi_date(local)}"
    return value.isoformat(), _vi_date(value)


def _not_after(earlier: date, later: date) -> bool:
    """Whether ``earlier`` is not after ``later``; a date against a timestamp compares days."""
    if (
        isinstance(earlier, datetime)
        and isinstance(later, datetime)
        and (earlier.tzinfo is None) == (later.tzinfo is None)
    ):
        return earlier <= later
    return _local_date(earlier) <= _local_date(later)


@rule("date_order")
def _date_order(params: RuleParams, context: RuleContext) -> Check:
    """``earlier`` may not fall after ``later`` (dates or timestamps); a missing one passes.

    The failure names ``earlier``'s field.
    """
    earlier_path = params.field("earlier", temporal=True)
    later_path = params.field("later", temporal=True)
    get_earlier = _getter(earlier_path)
    get_later = _getter(later_path)

    def check(record: dict[str, Any]) -> Sequence[Failure]:
        earlier = get_earlier(record)
        later = get_later(record)
        if earlier is None or later is None or _not_after(earlier, later):
            return _PASS
        earlier_en, earlier_vi = _moment(earlier)
        later_en, later_vi = _moment(later)
        return [
            Failure(
                "date.order",
                earlier_path,
                f"{earlier_path} {earlier_en} is after {later_path} {later_en}",
                f"{earlier_path} {earlier_vi} muộn hơn {later_path} {later_vi}",
            )
        ]

    return check


def _age(born: date, on: date) -> int:
    """Full years between two calendar dates (a 29 February birthday comes on 1 March)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@rule("min_age")
def _min_age(params: RuleParams, context: RuleContext) -> Check:
    """The person born on ``birth_date`` must be at least ``years`` old on ``as_of``.

    For legal ages such as marriage (Law on Marriage and Family 52/2014/QH13: men from 20,
    women from 18). A missing date passes.
    """
    birth_path = params.field("birth_date", temporal=True)
    as_of_path = params.field("as_of", temporal=True)
    years = params.integer("years", minimum=1)
    get_birth = _getter(birth_path)
    get_as_of = _getter(as_of_path)

    def check(record: dict[str, Any]) -> Sequence[Failure]:
        born = get_birth(record)
        as_of = get_as_of(record)
        if born is None or as_of is None:
            return _PASS
        born_day, on = _local_date(born), _local_date(as_of)
        age = _age(born_day, on)
        if age >= years:
            return _PASS
        return [
            Failure(
                "date.min_age",
                birth_path,
                f"{birth_path} {born_day.isoformat()}: {age} years old on {as_of_path} "
                f"{on.isoformat()}, under {years}",
                f"{birth_path} {_vi_date(born_day)}: {age} tuổi vào ngày {_vi_date(on)} "
                f"({as_of_path}), chưa đủ {years} tuổi",
            )
        ]

    return check


# --- business lines (VSIC 2018) --------------------------------------------------------------

# VSIC 2018 (Decision 27/2018/QĐ-TTg) keeps the 88 level-2 divisions of ISIC Rev. 4, section by
# section from A (01-03) to U (99); a level-4 code starts with its division.
_VSIC_DIVISIONS: Final = frozenset(
    f"{division:02d}"
    for first, last in (
        (1, 3),  # A
        (5, 9),  # B
        (10, 33),  # C
        (35, 35),  # D
        (36, 39),  # E
        (41, 43),  # F
        (45, 47),  # G
        (49, 53),  # H
        (55, 56),  # I
        (58, 63),  # J
        (64, 66),  # K
        (68, 68),  # L
        (69, 75),  # M
        (77, 82),  # N
        (84, 84),  # O
        (85, 85),  # P
        (86, 88),  # Q
        (90, 93),  # R
        (94, 96),  # S
        (97, 98),  # T
        (99, 99),  # U
    )
    for division in range(first, last + 1)
)
_VSIC_CODE: Final = re.compile(r"[0-9]{4}")


@rule("vsic_code")
def _vsic_code(params: RuleParams, context: RuleContext) -> Check:
    """``field`` (item paths allowed): a VSIC 2018 level-4 code, four digits of a division.

    An absent or blank code passes.
    """
    path = params.field(items=True)

    def check_value(where: str, value: Any, record: dict[str, Any]) -> Sequence[Failure]:
        if _is_blank(value):
            return _PASS
        if not (isinstance(value, str) and _VSIC_CODE.fullmatch(value)):
            return [
                Failure(
                    "vsic_code.shape",
                    where,
                    f"{where} {value!r} is not a 4-digit VSIC 2018 level-4 code",
                    f"{where} {value!r} không phải là mã ngành cấp 4 VSIC 2018 gồm 4 chữ số",
                )
            ]
        if value[:2] in _VSIC_DIVISIONS:
            return _PASS
        return [
            Failure(
                "vsic_code.division",
                where,
                f"{where} {value}: {value[:2]} is not a VSIC 2018 division",
                f"{where} {value}: {value[:2]} không phải là mã ngành cấp 2 của VSIC 2018",
            )
        ]

    return _each(path, check_value)


@rule("exactly_one")
def _exactly_one(params: RuleParams, context: RuleContext) -> Check:
    """``field``: a boolean in an array of records (``a[].flag``), set on exactly one item.

    An empty or absent array fails too: it has no item with the flag set.
    """
    path = params.field(items=True, boolean=True)
    if _ITEMS not in path:
        raise RuleConfigError(
            f"parameter 'field' must name a boolean in an array of records, like "
            f"business_lines[].main; got {path!r}"
        )
    array_path = path.partition(_ITEMS)[0]
    flag = path.rpartition(".")[2]
    values = _values(path)

    def check(record: dict[str, Any]) -> Sequence[Failure]:
        chosen = [where for where, value in values(record) if value is True]
        if len(chosen) == 1:
            return _PASS
        if chosen:
            listed = ", ".join(chosen)
            reason = (
                f"{array_path}: {len(chosen)} items have {flag} set ({listed}); exactly one must"
            )
            reason_vi = f"{array_path}: {len(chosen)} phần tử có {flag} ({listed}); chỉ được một"
        else:
            reason = f"{array_path}: no item has {flag} set; exactly one must"
            reason_vi = f"{array_path}: không phần tử nào có {flag}; phải có đúng một"
        return [Failure("array.exactly_one", array_path, reason, reason_vi)]

    return check
