"""Export and upload profiles: loading them and refusing a broken one with clear reasons.

A profile is data (``resources/export-profiles/*.toml``, ``resources/upload-profiles/*.toml``,
overridable by a service). Like the dataset loader, every problem is collected and reported at
once, each naming the file and the key, so a service editing its own copy finds its mistake.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from flsdesk.answers import DATE_FORMAT
from flsdesk.datafiles import DataFile, DataFileError, Problems, find, read_toml
from flsdesk.paths import AppPaths

DEFAULT_EXPORT_PROFILE = "flsdb-webtool"
DEFAULT_UPLOAD_PROFILE = "https-multipart"

HEADER_STYLES = ("number_and_short_name", "short_name")
QUOTING = {"minimal": csv.QUOTE_MINIMAL, "all": csv.QUOTE_ALL}
LINE_ENDS = {"crlf": "\r\n", "lf": "\n"}
ANSWER_STYLES = ("label", "code")
NHS_FORMATS = ("digits", "spaced")
# Record fields a profile may sort rows by, beside the dataset's roles.
RECORD_SORT_FIELDS = ("created_at",)


def _encoding_ok(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Export profiles
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportProfile:
    id: str
    name: str
    path: Path
    source: str
    provisional: bool
    encoding: str
    encodings_offered: tuple[str, ...]
    delimiter: str
    quote_char: str
    quoting: str  # a key of QUOTING
    line_end: str  # the characters themselves
    final_line_end: bool
    header_style: str
    header_separator: str
    column_order: tuple[str, ...] | None  # None: the definition's question order
    row_order: tuple[str, ...]
    date_format: str
    whole_numbers_without_decimals: bool
    decimal_mark: str
    answers: str
    multi_joiner: str
    nhs_format: str
    empty: str
    import_ignored_columns: tuple[str, ...] = ()
    import_header_aliases: Mapping[str, str] = field(default_factory=dict)
    import_answer_aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def quoting_constant(self) -> int:
        return QUOTING[self.quoting]

    def with_header_style(self, style: str) -> ExportProfile:
        """The same profile with the other header style (the dialog and tests offer both)."""
        if style not in HEADER_STYLES:
            raise ValueError(f"header style must be one of {', '.join(HEADER_STYLES)}")

        return replace(self, header_style=style)

    def with_encoding(self, encoding: str) -> ExportProfile:

        if not _encoding_ok(encoding):
            raise ValueError(f"unknown encoding {encoding!r}")
        return replace(self, encoding=encoding)


_EXPORT_TOP = {"kind", "id", "name", "provisional", "file", "header", "columns", "rows", "values"}
_EXPORT_TOP |= {"import"}
_FILE_KEYS = {
    "encoding",
    "encodings_offered",
    "delimiter",
    "quote_char",
    "quoting",
    "quoting_offered",
    "line_end",
    "final_line_end",
}
_HEADER_KEYS = {"style", "styles_offered", "separator"}
_VALUES_KEYS = {
    "date_format",
    "date_formats_offered",
    "whole_numbers_without_decimals",
    "decimal_mark",
    "answers",
    "answers_offered",
    "multi_joiner",
    "nhs_format",
    "nhs_formats_offered",
    "empty",
}
_IMPORT_KEYS = {"ignored_columns", "header_aliases", "answer_aliases"}


def _single_char(p: Problems, table: Mapping[str, Any], where: str, key: str, default: str) -> str:
    value = p.text(table, where, key, default)
    if len(value) != 1 or value in "\r\n":
        p.add(where, f"'{key}' must be one character (not a line break)")
        return default
    return value


def parse_export_profile(
    data: Mapping[str, Any], path: Path, source: str = "bundled"
) -> ExportProfile:
    """Build an ExportProfile from parsed TOML, or raise DataFileError listing every problem."""
    p = Problems()
    p.header(data, "export-profile", _EXPORT_TOP)

    f = p.table(data, "file")
    p.unknown("[file]", f, _FILE_KEYS)
    encoding = p.text(f, "[file]", "encoding", "utf-8")
    offered = p.words(f, "[file]", "encodings_offered")
    for name in (encoding, *offered):
        if not _encoding_ok(name):
            p.add("[file]", f"encoding {name!r} is not one Python knows")
    delimiter = _single_char(p, f, "[file]", "delimiter", ",")
    quote_char = _single_char(p, f, "[file]", "quote_char", '"')
    if delimiter == quote_char:
        p.add("[file]", "'delimiter' and 'quote_char' must differ")
    quoting = p.choice(f, "[file]", "quoting", "minimal", tuple(QUOTING))
    line_end = p.choice(f, "[file]", "line_end", "crlf", tuple(LINE_ENDS))
    final = f.get("final_line_end", True)
    if not isinstance(final, bool):
        p.add("[file]", "'final_line_end' must be true or false")
        final = True

    h = p.table(data, "header")
    p.unknown("[header]", h, _HEADER_KEYS)
    style = p.choice(h, "[header]", "style", HEADER_STYLES[0], HEADER_STYLES)
    separator = p.text(h, "[header]", "separator", " ")

    c = p.table(data, "columns")
    p.unknown("[columns]", c, {"order"})
    raw_order = c.get("order", "definition")
    column_order: tuple[str, ...] | None = None
    if raw_order != "definition":
        if (
            not isinstance(raw_order, list)
            or not raw_order
            or not all(isinstance(x, str) for x in raw_order)
        ):
            p.add("[columns]", "'order' must be \"definition\" or a list of question numbers")
        else:
            column_order = tuple(raw_order)
            if len(set(column_order)) != len(column_order):
                p.add("[columns]", "'order' lists a question twice")

    r = p.table(data, "rows")
    p.unknown("[rows]", r, {"order_by"})
    row_order = p.words(r, "[rows]", "order_by") or ("diagnosed", "nhs_number", "created_at")

    v = p.table(data, "values")
    p.unknown("[values]", v, _VALUES_KEYS)
    date_format = p.text(v, "[values]", "date_format", DATE_FORMAT)
    try:
        sample = date(2001, 2, 3).strftime(date_format)
        if "3" not in sample:
            p.add("[values]", f"'date_format' {date_format!r} does not show the day")
    except ValueError:
        p.add("[values]", f"'date_format' {date_format!r} is not a date format")
    whole = v.get("whole_numbers_without_decimals", True)
    if not isinstance(whole, bool):
        p.add("[values]", "'whole_numbers_without_decimals' must be true or false")
        whole = True
    decimal_mark = _single_char(p, v, "[values]", "decimal_mark", ".")
    answers = p.choice(v, "[values]", "answers", "label", ANSWER_STYLES)
    joiner = p.text(v, "[values]", "multi_joiner", ";")
    if not joiner:
        p.add("[values]", "'multi_joiner' must not be empty")
    nhs_format = p.choice(v, "[values]", "nhs_format", "digits", NHS_FORMATS)
    empty = p.text(v, "[values]", "empty", "")

    imp = p.table(data, "import")
    p.unknown("[import]", imp, _IMPORT_KEYS)
    ignored = p.words(imp, "[import]", "ignored_columns")
    header_aliases = p.text_map(
        p.table(imp, "header_aliases") if "header_aliases" in imp else {}, "[import.header_aliases]"
    )
    answer_aliases = p.text_map(
        p.table(imp, "answer_aliases") if "answer_aliases" in imp else {}, "[import.answer_aliases]"
    )

    if p.items:
        raise DataFileError(path, p.items)
    return ExportProfile(
        id=str(data["id"]),
        name=str(data["name"]),
        path=path,
        source=source,
        provisional=bool(data.get("provisional", True)),
        encoding=encoding,
        encodings_offered=offered or (encoding,),
        delimiter=delimiter,
        quote_char=quote_char,
        quoting=quoting,
        line_end=LINE_ENDS[line_end],
        final_line_end=bool(final),
        header_style=style,
        header_separator=separator,
        column_order=column_order,
        row_order=row_order,
        date_format=date_format,
        whole_numbers_without_decimals=bool(whole),
        decimal_mark=decimal_mark,
        answers=answers,
        multi_joiner=joiner,
        nhs_format=nhs_format,
        empty=empty,
        import_ignored_columns=ignored,
        import_header_aliases=header_aliases,
        import_answer_aliases=answer_aliases,
    )


def check_export_profile(data: dict[str, Any], path: Path) -> str:
    """For ``flsdesk definitions --check``: raises DataFileError, or returns a summary."""
    prof = parse_export_profile(data, path)
    columns = "definition order" if prof.column_order is None else f"{len(prof.column_order)}"
    return (
        f"export profile {prof.id}: {prof.encoding}, header {prof.header_style}, "
        f"columns {columns}, answers as {prof.answers}"
        + (", provisional" if prof.provisional else "")
    )


# ---------------------------------------------------------------------------------------------
# Upload profiles
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadProfile:
    id: str
    name: str
    path: Path
    source: str
    provisional: bool
    method: str
    file_field: str
    content_type: str
    fields: Mapping[str, str]
    auth_header: str
    auth_scheme: str
    success_codes: frozenset[int]
    receipt_json_keys: tuple[str, ...]
    reason_json_keys: tuple[str, ...]
    max_text: int
    idempotency_header: str
    max_attempts: int
    backoff_initial: float
    backoff_factor: float
    backoff_max: float
    retry_after_max: float
    connect_timeout: float
    read_timeout: float


_UPLOAD_TOP = {"kind", "id", "name", "provisional", "request", "auth", "response", "retry"}
_UPLOAD_TOP |= {"timeouts"}
_FIELD_PLACEHOLDERS = {"batch_id", "sha256", "records", "file_name"}


def parse_upload_profile(
    data: Mapping[str, Any], path: Path, source: str = "bundled"
) -> UploadProfile:
    p = Problems()
    p.header(data, "upload-profile", _UPLOAD_TOP)

    req = p.table(data, "request")
    p.unknown("[request]", req, {"method", "file_field", "content_type", "fields"})
    method = p.choice(req, "[request]", "method", "POST", ("POST", "PUT"))
    file_field = p.text(req, "[request]", "file_field", "file")
    if not file_field.strip():
        p.add("[request]", "'file_field' must not be empty")
    content_type = p.text(req, "[request]", "content_type", "text/csv")
    raw_fields = req.get("fields", {})
    fields: dict[str, str] = {}
    if not isinstance(raw_fields, Mapping):
        p.add("[request]", "'fields' must be a table")
    else:
        fields = p.text_map(raw_fields, "[request] fields") if raw_fields else {}
        for name, template in fields.items():
            try:
                template.format(**dict.fromkeys(_FIELD_PLACEHOLDERS, "x"))
            except (KeyError, IndexError, ValueError):
                p.add(
                    "[request] fields",
                    f"'{name}' may use only {{{'}, {'.join(sorted(_FIELD_PLACEHOLDERS))}}}",
                )

    auth = p.table(data, "auth")
    p.unknown("[auth]", auth, {"header", "scheme"})
    auth_header = p.text(auth, "[auth]", "header", "Authorization")
    auth_scheme = p.text(auth, "[auth]", "scheme", "Bearer")

    resp = p.table(data, "response")
    p.unknown(
        "[response]",
        resp,
        {"success_codes", "receipt_json_keys", "reason_json_keys"} | {"max_text"},
    )
    codes = resp.get("success_codes", [200])
    if (
        not isinstance(codes, list)
        or not codes
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in codes)
    ):
        p.add("[response]", "'success_codes' must be a list of HTTP status codes")
        codes = [200]
    elif any(not 200 <= x <= 299 for x in codes):
        # The outbox promise: "sent" only on the server's 2xx.
        p.add("[response]", "'success_codes' may only hold 2xx codes")
    receipt_keys = p.words(resp, "[response]", "receipt_json_keys")
    reason_keys = p.words(resp, "[response]", "reason_json_keys")
    max_text = int(p.number(resp, "[response]", "max_text", 500, 20))

    retry = p.table(data, "retry")
    p.unknown(
        "[retry]",
        retry,
        {
            "idempotency_header",
            "max_attempts",
            "backoff_initial_seconds",
            "backoff_factor",
            "backoff_max_seconds",
            "retry_after_max_seconds",
        },
    )
    idem = p.text(retry, "[retry]", "idempotency_header", "Idempotency-Key")
    if not idem.strip():
        p.add("[retry]", "'idempotency_header' must not be empty")
    attempts = p.number(retry, "[retry]", "max_attempts", 5, 1)
    if attempts != int(attempts) or attempts > 20:
        p.add("[retry]", "'max_attempts' must be a whole number from 1 to 20")

    timeouts = p.table(data, "timeouts")
    p.unknown("[timeouts]", timeouts, {"connect_seconds", "read_seconds"})
    connect = p.number(timeouts, "[timeouts]", "connect_seconds", 10, 0.01)
    read = p.number(timeouts, "[timeouts]", "read_seconds", 120, 0.01)

    profile_kwargs = dict(
        backoff_initial=p.number(retry, "[retry]", "backoff_initial_seconds", 2.0),
        backoff_factor=p.number(retry, "[retry]", "backoff_factor", 2.0, 1),
        backoff_max=p.number(retry, "[retry]", "backoff_max_seconds", 60.0),
        retry_after_max=p.number(retry, "[retry]", "retry_after_max_seconds", 120.0),
    )
    if p.items:
        raise DataFileError(path, p.items)
    return UploadProfile(
        id=str(data["id"]),
        name=str(data["name"]),
        path=path,
        source=source,
        provisional=bool(data.get("provisional", True)),
        method=method,
        file_field=file_field,
        content_type=content_type,
        fields=fields,
        auth_header=auth_header,
        auth_scheme=auth_scheme,
        success_codes=frozenset(codes),
        receipt_json_keys=receipt_keys,
        reason_json_keys=reason_keys,
        max_text=max_text,
        idempotency_header=idem,
        max_attempts=int(attempts),
        connect_timeout=connect,
        read_timeout=read,
        **profile_kwargs,
    )


def check_upload_profile(data: dict[str, Any], path: Path) -> str:
    prof = parse_upload_profile(data, path)
    codes = ", ".join(str(c) for c in sorted(prof.success_codes))
    return (
        f"upload profile {prof.id}: {prof.method} field '{prof.file_field}', success on {codes}, "
        f"up to {prof.max_attempts} attempts" + (", provisional" if prof.provisional else "")
    )


# ---------------------------------------------------------------------------------------------
# Finding them
# ---------------------------------------------------------------------------------------------


def _pick(kind: str, name: str, paths: AppPaths | None) -> DataFile:
    files = find(kind, paths)
    for f in files:
        if f.path.stem == name:
            return f
    # A profile may also be named by its `id` (a service's copy under another file name).
    for f in files:
        try:
            if read_toml(f.path).get("id") == name:
                return f
        except DataFileError:
            continue
    known = ", ".join(f.path.stem for f in files) or "none"
    raise DataFileError(f"{name}.toml", [f"there is no {kind} named '{name}' (known: {known})"])


def load_export_profile(name: str | None = None, paths: AppPaths | None = None) -> ExportProfile:
    f = _pick("export-profile", name or DEFAULT_EXPORT_PROFILE, paths)
    return parse_export_profile(read_toml(f.path), f.path, f.source)


def load_upload_profile(name: str | None = None, paths: AppPaths | None = None) -> UploadProfile:
    f = _pick("upload-profile", name or DEFAULT_UPLOAD_PROFILE, paths)
    return parse_upload_profile(read_toml(f.path), f.path, f.source)


def export_profile_names(paths: AppPaths | None = None) -> list[str]:
    return [f.path.stem for f in find("export-profile", paths)]
