"""Offline scanner for personal data (PII) in tabular columns.

The scanner looks for e-mail addresses, phone numbers, IBANs, payment card numbers, dates of birth,
national identity / tax numbers (DE Steuer-ID, FR NIR, IT codice fiscale, ES DNI/NIE, NL BSN, PL PESEL),
IP addresses (IPv4 and IPv6, validated by :mod:`ipaddress`) and person names (``Anna Schmidt``,
``anna schmidt``, ``SCHMIDT, Anna``). Values inside free text (a comment field) are searched for every
kind except dates of birth. A column name alone never makes a finding: names such as ``customer_segment``
raise the confidence of values that already look like the kind, nothing more.

It needs no network and no model: detection is regular expressions run vectorised over the *distinct*
values of a row sample, followed by checksum validation of the values that matched the format, so that
random digit strings are not reported as identifiers.

Findings never contain raw values: examples are masked (``j***@e***.com``,
``DE89 **** **** **** **30 00``) before they leave this module.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modeltrail.errors import ValidationError

__all__ = [
    "PII_KINDS",
    "PiiFinding",
    "PiiScan",
    "de_steuer_id_valid",
    "es_dni_nie_valid",
    "fr_nir_valid",
    "iban_valid",
    "ip_address_valid",
    "it_codice_fiscale_valid",
    "luhn_valid",
    "mask_value",
    "nl_bsn_valid",
    "payment_card_valid",
    "pl_pesel_valid",
    "scan_dataframe",
    "scan_series",
]

PII_KINDS = ("email", "phone", "iban", "payment_card", "date_of_birth", "national_id", "person_name", "ip_address")

DEFAULT_SAMPLE_ROWS = 20_000
_MAX_EXAMPLES = 3


# --------------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PiiFinding:
    """One kind of personal data found in one column.

    ``count`` is the number of scanned (non-missing, sampled) cells holding a detected value and ``share``
    is ``count`` divided by the number of non-missing scanned cells. ``confidence`` is in [0, 1]; checksum
    validated kinds and column names that announce the content raise it. ``examples`` are masked.
    """

    column: str
    kind: str
    detail: str
    count: int
    share: float
    confidence: float
    examples: tuple[str, ...]
    rows_scanned: int
    name_hint: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary form."""
        return {
            "column": self.column,
            "kind": self.kind,
            "detail": self.detail,
            "count": self.count,
            "share": self.share,
            "confidence": self.confidence,
            "examples": list(self.examples),
            "rows_scanned": self.rows_scanned,
            "name_hint": self.name_hint,
        }


@dataclass
class PiiScan:
    """The result of scanning a frame: findings plus how much was looked at."""

    rows_total: int
    rows_scanned: int
    sample_rows: int
    columns_scanned: list[str]
    findings: list[PiiFinding] = field(default_factory=list)

    @property
    def flagged_columns(self) -> list[str]:
        """Columns with at least one finding, in frame order."""
        seen: dict[str, None] = {}
        for f in self.findings:
            seen.setdefault(f.column, None)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary form."""
        return {
            "rows_total": self.rows_total,
            "rows_scanned": self.rows_scanned,
            "sample_rows": self.sample_rows,
            "sampled": self.rows_scanned < self.rows_total,
            "columns_scanned": list(self.columns_scanned),
            "flagged_columns": self.flagged_columns,
            "findings": [f.to_dict() for f in self.findings],
        }


# --------------------------------------------------------------------------------------------------
# Checksums and format validators (public: the tests and other modules use them)
# --------------------------------------------------------------------------------------------------

# IBAN lengths per country (SEPA members plus a few frequent non-SEPA users of IBAN).
_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VA": 22,
    "VG": 24,
    "XK": 20,
}


def _compact(value: str) -> str:
    """Upper-case and drop the separators people type inside identifiers."""
    return re.sub(r"[\s\-./]", "", value).upper()


def iban_valid(value: str) -> bool:
    """True when ``value`` is an IBAN with a known country length and a valid ISO 13616 mod-97 check."""
    v = _compact(value)
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", v):
        return False
    if _IBAN_LENGTHS.get(v[:2]) != len(v):
        return False
    rearranged = v[4:] + v[:4]
    # Letters become two-digit numbers (A=10 ... Z=35); int(c, 36) does exactly that mapping.
    digits = "".join(str(int(c, 36)) for c in rearranged)
    return int(digits) % 97 == 1


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn (mod 10) check."""
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_network(digits: str) -> str | None:
    """Card network from the issuer identification number (IIN) prefix and length, or None."""
    n = len(digits)
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and n in (13, 16, 19):
        return "Visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "Mastercard"
    if p2 in (34, 37) and n == 15:
        return "American Express"
    if (p4 == 6011 or p2 == 65 or 644 <= p3 <= 649 or 622126 <= p6 <= 622925) and 16 <= n <= 19:
        return "Discover"
    if (300 <= p3 <= 305 or p2 in (36, 38, 39) or p4 == 3095) and 14 <= n <= 19:
        return "Diners Club"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "JCB"
    if p2 == 62 and 16 <= n <= 19:
        return "UnionPay"
    if (p2 == 50 or 56 <= p2 <= 69) and 12 <= n <= 19:
        return "Maestro"
    return None


def payment_card_valid(value: str) -> bool:
    """True when ``value`` is a 12–19 digit card number with a known IIN/length and a valid Luhn digit."""
    v = _compact(value)
    return bool(re.fullmatch(r"\d{12,19}", v)) and _card_network(v) is not None and luhn_valid(v)


def de_steuer_id_valid(value: str) -> bool:
    """German tax identification number (Steuer-ID, 11 digits).

    Structure: no leading zero; among the first ten digits exactly one digit occurs two or three times
    and every other digit at most once; the last digit is the ISO 7064 MOD 11,10 check digit.
    """
    v = _compact(value)
    if not re.fullmatch(r"[1-9]\d{10}", v):
        return False
    counts = sorted((v[:10].count(d) for d in set(v[:10])), reverse=True)
    if counts[0] not in (2, 3) or (len(counts) > 1 and counts[1] != 1):
        return False
    product = 10
    for ch in v[:10]:
        s = (int(ch) + product) % 10
        if s == 0:
            s = 10
        product = (s * 2) % 11
    check = 11 - product
    if check == 10:
        check = 0
    return check == int(v[10])


def fr_nir_valid(value: str) -> bool:
    """French social security number (NIR / numéro INSEE, 13 characters plus a two-digit key).

    The key is ``97 - (number mod 97)``; Corsican departments 2A/2B count as 19/18 for the key.
    """
    v = _compact(value)
    m = re.fullmatch(r"([1-478])(\d{2})(0[1-9]|1[0-2]|[2-9]\d)(\d{2}|2[AB])(\d{3})(\d{3})(\d{2})", v)
    if not m:
        return False
    body = v[:13].replace("2A", "19", 1) if m.group(4) == "2A" else v[:13]
    if m.group(4) == "2B":
        body = v[:13].replace("2B", "18", 1)
    return 97 - int(body) % 97 == int(m.group(7))


_CF_ODD = {
    **dict(zip("0123456789", [1, 0, 5, 7, 9, 13, 15, 17, 19, 21], strict=True)),
    **dict(
        zip(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23],
            strict=True,
        )
    ),
}
# "Omocodia": digits of a colliding code are replaced by these letters, in this order (0..9).
_CF_OMOCODE = "LMNPQRSTUV"
_CF_RE = re.compile(r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]")


def it_codice_fiscale_valid(value: str) -> bool:
    """Italian fiscal code (codice fiscale, 16 characters) with its check character, omocodia allowed."""
    v = _compact(value)
    if not _CF_RE.fullmatch(v):
        return False
    total = 0
    for i, ch in enumerate(v[:15]):
        # Positions are 1-based in the specification: odd positions use the odd table.
        if i % 2 == 0:
            total += _CF_ODD[ch]
        else:
            total += int(ch) if ch.isdigit() else ord(ch) - 65
    return chr(65 + total % 26) == v[15]


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_dni_nie_valid(value: str) -> bool:
    """Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter) with the mod-23 control letter."""
    v = _compact(value)
    if re.fullmatch(r"\d{8}[A-Z]", v):
        number = int(v[:8])
    elif re.fullmatch(r"[XYZ]\d{7}[A-Z]", v):
        number = int(str("XYZ".index(v[0])) + v[1:8])
    else:
        return False
    return _DNI_LETTERS[number % 23] == v[-1]


def nl_bsn_valid(value: str) -> bool:
    """Dutch citizen service number (BSN, 9 digits) passing the "11-proof" (elfproef)."""
    v = _compact(value)
    if not re.fullmatch(r"\d{9}", v) or int(v) == 0:
        return False
    total = sum(int(d) * w for d, w in zip(v[:8], range(9, 1, -1), strict=True)) - int(v[8])
    return total % 11 == 0


def pl_pesel_valid(value: str) -> bool:
    """Polish PESEL (11 digits): encoded birth date with a century-shifted month and a mod-10 check."""
    v = _compact(value)
    if not re.fullmatch(r"\d{11}", v):
        return False
    month = int(v[2:4]) % 20
    day = int(v[4:6])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    total = sum(int(d) * w for d, w in zip(v[:10], weights, strict=True))
    return (10 - total % 10) % 10 == int(v[10])


@dataclass(frozen=True)
class _IdScheme:
    detail: str
    pattern: re.Pattern[str]  # applied to the compacted, upper-cased value
    check: Callable[[str], bool]


_ID_SCHEMES: tuple[_IdScheme, ...] = (
    _IdScheme("DE Steuer-ID", re.compile(r"[1-9]\d{10}"), de_steuer_id_valid),
    _IdScheme("FR NIR", re.compile(r"[1-478]\d{4}(?:\d{2}|2[AB])\d{8}"), fr_nir_valid),
    _IdScheme("IT codice fiscale", _CF_RE, it_codice_fiscale_valid),
    _IdScheme("ES DNI/NIE", re.compile(r"\d{8}[A-Z]|[XYZ]\d{7}[A-Z]"), es_dni_nie_valid),
    _IdScheme("NL BSN", re.compile(r"\d{9}"), nl_bsn_valid),
    _IdScheme("PL PESEL", re.compile(r"\d{11}"), pl_pesel_valid),
)


# --------------------------------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------------------------------


def _star_keep(value: str, keep_head: int, keep_tail: int) -> str:
    """Replace every alphanumeric character except the first/last few with ``*`` (separators stay)."""
    idx = [i for i, ch in enumerate(value) if ch.isalnum()]
    n = len(idx)
    # Never reveal more than a third of the characters, whatever was asked.
    budget = n // 3
    head = min(keep_head, budget)
    tail = min(keep_tail, max(budget - head, 0))
    keep = set(idx[:head]) | set(idx[n - tail :] if tail else [])
    return "".join(ch if (i in keep or not ch.isalnum()) else "*" for i, ch in enumerate(value))


def mask_value(kind: str, value: str) -> str:
    """Masked rendering of a detected value; the raw value can not be recovered from it.

    Emails keep the first letter of the local part and of the domain plus the top-level domain; IBANs keep
    the country, check digits and last four characters; cards keep the last four digits; names keep
    initials; dates keep the century. Everything else keeps at most a third of its characters.
    """
    v = str(value).strip()
    if kind == "email":
        m = re.search(r"([^\s@<>(),;:\"']+)@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*)\.([A-Za-z]{2,})", v)
        if not m:
            return "***@***"
        local, domain, tld = m.groups()
        return f"{local[0]}***@{domain[0]}***.{tld}"
    if kind == "iban":
        c = _compact(v)
        # Country and check digits say little; keep fewer trailing characters of short (Nordic, BE) IBANs.
        tail = 4 if len(c) >= 20 else 2
        masked = c[:4] + "*" * (len(c) - 4 - tail) + c[-tail:] if len(c) >= 15 else "*" * len(c)
        return " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))
    if kind == "payment_card":
        c = _compact(v)
        masked = "*" * (len(c) - 4) + c[-4:] if len(c) >= 12 else "*" * len(c)
        return " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))
    if kind == "person_name":
        return " ".join(f"{tok[0]}***" for tok in v.split() if tok)
    if kind == "date_of_birth":
        # Keep the century of the year (the first two digits of the four-digit group), star every other digit.
        m = re.search(r"\d{4}", v)
        keep = {m.start(), m.start() + 1} if m else set()
        return "".join("*" if ch.isalnum() and i not in keep else ch for i, ch in enumerate(v))
    if kind == "phone":
        return _star_keep(v, 3, 2)
    if kind == "ip_address":
        return _star_keep(v, 3, 0)  # the leading digits (the network's broad owner) at most
    return _star_keep(v, 1, 1)


# --------------------------------------------------------------------------------------------------
# Column-name heuristics
# --------------------------------------------------------------------------------------------------


def _norm_name(name: str) -> str:
    """snake_case-ish lower name: ``FirstName`` / ``first-name`` / ``First Name`` -> ``first_name``."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    return re.sub(r"[^a-z0-9äöüéèàçñßłńśźżąęó]+", "_", s.lower()).strip("_")


_NAME_HINTS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"(^|_)(e_?mail|mail|courriel|correo)(_|$)"),
    "phone": re.compile(
        r"(^|_)(phone|tel|telephone|telefon|telefono|téléphone|mobile|mobil|cell|handy|gsm|fax|msisdn)"
        r"(_|$|number|nummer)"
    ),
    "iban": re.compile(r"(^|_)(iban|bank_?account|account_?number|kontonummer|konto|rib)(_|$)"),
    "payment_card": re.compile(r"(^|_)(card|credit_?card|cc|pan|kreditkarte|carte)(_|$|number|num|no)"),
    "ip_address": re.compile(r"(^|_)(ip|ip_?addr\w*|ipv4|ipv6|remote_?addr\w*|client_?ip|host_?ip)(_|$)"),
    "date_of_birth": re.compile(
        r"(^|_)(dob|birth|birthdate|birthday|date_of_birth|birth_date|geburt\w*|geb_?dat\w*|naissance"
        r"|nascita|nacimiento|geboorte\w*|urodzenia|data_ur\w*)(_|$)"
    ),
    "national_id": re.compile(
        r"(^|_)(ssn|national_?id|id_?number|tax_?id|tin|steuer\w*|idnr|pesel|bsn|nir|insee|nss|dni|nie|nif"
        r"|codice_?fiscale|cf|fiscal\w*|sofi\w*|personal_?id|passport\w*|ausweis\w*|identity\w*)(_|$)"
    ),
    "person_name": re.compile(
        r"(^|_)(name|names|first_?name|last_?name|given_?name|family_?name|full_?name|middle_?name"
        r"|maiden_?name|surname|forename|vorname|nachname|familienname|prenom|prénom|nom|nombre|apellidos?"
        r"|cognome|naam|voornaam|achternaam|imie|imię|nazwisko|customer|client|person|holder|owner"
        r"|applicant|patient|employee|contact)(_|$)"
    ),
}
# Column names that contain "name" but are not about people.
_NOT_PERSON = re.compile(
    r"(^|_)(file|product|company|firm|brand|host|model|feature|column|table|dataset|project|city|street"
    r"|country|region|field|class|category|type|branch|bank|shop|store|merchant|item|app|user_?name|domain"
    r"|key|variable|param\w*|team|org\w*|department|job|tag|label)(_|$)"
)


def _name_hint(column: str, kind: str) -> bool:
    n = _norm_name(column)
    if kind == "person_name":
        if _NOT_PERSON.search(n):
            return False
        return bool(_NAME_HINTS["person_name"].search(n))
    return bool(_NAME_HINTS[kind].search(n))


# A short list of common first names across EU member states, written for this scanner. It only has to
# catch name columns that have no telling column name, so breadth matters more than completeness.
_FIRST_NAMES_TEXT = """
    adam adrian agnieszka alberto aleksandra alessandro alessia alexander alexandre alice alicia amelie ana
    andrea andreas andrzej angela anna anne annika antoine antonio arnaud aurelie barbara bart bas beatriz
    benjamin bernard bram camille carla carlos carmen caroline catarina chiara christian christine claire
    clara claudia daan daniel daniela david dawid diego dirk dominik dorota elena elias elisa elisabeth
    emil emilia emily emma enzo eric erik esther eva ewa fabian federico felix fernando filip florian
    francesca francesco francisco franziska frank giovanni giulia giuseppe hanna hannah hans heinz helena
    hugo ines irene isabel isabella jakub jan jana javier jean jens jeroen joanna johan johanna johannes
    jonas jorge jose josé juan julia julian julie jurgen jürgen karin karl karolina katarzyna kevin klaus
    krzysztof laura laurent lea leon leonardo lisa lorenzo louis luca lucas lucia luis lukas łukasz
    magdalena maja manuel marco marek maria marie mario marta martin martina mateusz mathilde matteo
    matthias max maximilian michael michał michal monika nathalie nicolas niels nina noah oliver olivier
    pablo paolo patrick paul paula pedro peter petra philippe piotr pierre rafael raphael ricardo robert
    roberto rosa ruben sabine sandra sara sarah sebastian sergio simone sofia sophie stefan stefano
    stephanie susanne sven szymon teresa thomas tim tobias tom tomasz ursula valentina victor vincent
    wojciech wolfgang yannick zofia zuzanna
    """
_FIRST_NAMES = frozenset(_FIRST_NAMES_TEXT.split())

# Unicode upper/lower ranges covering Latin-1 and Latin Extended-A (Polish, Czech, ... letters).
_UP = "A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĴĶĹĻĽĿŁŃŅŇŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ"
_LO = "a-zß-öø-ÿāăąćĉċčďđēĕėęěĝğġģĥħĩīĭįıĵķĺļľŀłńņňōŏőœŕŗřśŝşšţťŧũūŭůűųŵŷźżž"
_CAP_NAME_RE = re.compile(
    rf"(?:[{_UP}][{_LO}'’\-]+\.?)(?:\s+(?:(?:van|von|de|der|den|da|di|del|la|le)\s+)*[{_UP}][{_LO}'’\-]+){{0,3}}"
)
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_PHONE_INTL_RE = re.compile(r"(?:\+|00)[1-9]\d{0,2}[\s\-./]?(?:\(0\)[\s\-./]?)?\(?\d{1,5}\)?(?:[\s\-./]?\d{1,6}){1,5}")
_PHONE_NAT_RE = re.compile(r"\(?0[1-9]\d{0,4}\)?(?:[\s\-./]?\d{2,6}){1,5}")
_DATE_RES = (
    (re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?"), "%Y-%m-%d"),
    (re.compile(r"\d{1,2}\.\d{1,2}\.\d{4}"), "%d.%m.%Y"),
    (re.compile(r"\d{1,2}/\d{1,2}/\d{4}"), "%d/%m/%Y"),
    (re.compile(r"\d{1,2}-\d{1,2}-\d{4}"), "%d-%m-%Y"),
)


_IPV4_RE = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6_RE = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
# "SCHMIDT, Anna" / "Schmidt, Anna Maria": the family name first, a comma, then given names.
_LAST_FIRST_RE = re.compile(rf"[{_UP}][{_UP}{_LO}'’\-]+,\s*[{_UP}][{_LO}'’\-]+(?:\s+[{_UP}][{_LO}'’\-]+)?")
# Lower-case "anna schmidt" (two or three words of letters).
_LOWER_NAME_RE = re.compile(rf"[{_LO}][{_LO}'’\-]+(?:\s+[{_LO}][{_LO}'’\-]+){{1,2}}")
# Free text: candidates searched inside longer values, each validated like a whole cell.
_FT_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_FT_CARD_RE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){11,18}(?![\d-])")
_FT_PHONE_RE = re.compile(
    r"(?:(?<![\w+])(?:\+|00)[1-9]\d{0,2}[\s\-./]?(?:\(0\)[\s\-./]?)?\(?\d{1,5}\)?(?:[\s\-./]?\d{1,6}){1,5})"
    r"|(?:(?:tel|phone|call|mobile|mobil|handy|telefon|telefono|téléphone)\w*[.:]?\s*\(?0[1-9]\d{0,4}\)?(?:[\s\-./]?\d{2,6}){1,5})",
    re.IGNORECASE,
)
_FT_TOKEN_RE = re.compile(r"\b[A-Za-z0-9]{9,16}\b")
_FT_ID_CONTEXT_RE = re.compile(
    r"(?:steuer-?id|tax id|nir|pesel|bsn|dni|nie|ssn|id number|codice fiscale)\w*[.:#]?\s*([0-9A-Z]{9,16})",
    re.IGNORECASE,
)


def ip_address_valid(value: str) -> bool:
    """True for a syntactically valid IPv4 (dotted quad) or IPv6 address."""
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return True


def _is_free_text(values: _Values) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Distinct values that read as prose: 20 characters or more with at least three words of letters."""
    text = values.text
    words = text.str.count(r"(?:^|\s)[^\W\d_]{2,}").to_numpy()
    return np.asarray((text.str.len().to_numpy() >= 20) & (words >= 3), dtype=bool)


def _free_text_hits(value: str) -> dict[str, str]:
    """The first validated value of each kind found inside a free-text ``value`` (kind -> raw match).

    Kinds are tried from the most to the least specific, and a matched span is blanked before the next
    kind looks, so the digits of an IBAN are not also read as a card or a phone number.
    """
    hits: dict[str, str] = {}
    text = value

    def take(kind: str, start: int, end: int) -> None:
        nonlocal text
        hits[kind] = text[start:end]
        text = text[:start] + " " * (end - start) + text[end:]

    if "@" in text and (m := _EMAIL_RE.search(text)):
        take("email", m.start(), m.end())
    for m in _FT_IBAN_RE.finditer(text.upper()):
        if iban_valid(m.group(0)):
            take("iban", m.start(), m.end())
            break
    for m in _FT_CARD_RE.finditer(text):
        if payment_card_valid(m.group(0)):
            take("payment_card", m.start(), m.end())
            break
    for m in _IPV4_RE.finditer(text):
        if ip_address_valid(m.group(0)):
            take("ip_address", m.start(), m.end())
            break
    if "ip_address" not in hits:
        for m in _IPV6_RE.finditer(text):
            if m.group(0).count(":") >= 2 and ip_address_valid(m.group(0)):
                take("ip_address", m.start(), m.end())
                break
    for m in _FT_TOKEN_RE.finditer(text.upper()):
        token = m.group(0)
        # In prose a checksum alone is weak evidence for all-digit schemes; a check letter makes it strong.
        if not token.isdigit() and any(sc.pattern.fullmatch(token) and sc.check(token) for sc in _ID_SCHEMES):
            take("national_id", m.start(), m.end())
            break
    if "national_id" not in hits:
        for m in _FT_ID_CONTEXT_RE.finditer(text):
            token = m.group(1).upper()
            if any(sc.pattern.fullmatch(token) and sc.check(token) for sc in _ID_SCHEMES):
                take("national_id", m.start(1), m.end(1))
                break
    for m in _FT_PHONE_RE.finditer(text):
        if 8 <= sum(ch.isdigit() for ch in m.group(0)) <= 15:
            take("phone", m.start(), m.end())
            break
    return hits


_FREE_TEXT_DETAIL = {
    "email": "e-mail address inside free text",
    "iban": "IBAN (mod-97 valid) inside free text",
    "payment_card": "card number (Luhn + IIN valid) inside free text",
    "phone": "phone number inside free text",
    "ip_address": "IP address inside free text",
    "national_id": "national ID (checksum valid) inside free text",
}


def _scan_free_text(
    column: str, values: _Values, claimed: np.ndarray[Any, np.dtype[np.bool_]], min_count: int
) -> list[PiiFinding]:
    prose = _is_free_text(values) & ~claimed
    if not prose.any():
        return []
    masks = {k: np.zeros(len(values.text), dtype=bool) for k in _FREE_TEXT_DETAIL}
    found: dict[str, list[str]] = {k: [] for k in _FREE_TEXT_DETAIL}
    for i in np.flatnonzero(prose):
        for kind, raw in _free_text_hits(str(values.text.iloc[i])).items():
            masks[kind][i] = True
            if len(found[kind]) < _MAX_EXAMPLES:
                found[kind].append(raw)
    out = []
    for kind, mask in masks.items():
        cnt = values.count(mask)
        if cnt >= min_count:
            conf = 0.9 if kind in ("email", "iban", "payment_card", "ip_address") else 0.7
            out.append(
                _finding(
                    column, kind, _FREE_TEXT_DETAIL[kind], cnt, values, conf, found[kind], _name_hint(column, kind)
                )
            )
    return out


# --------------------------------------------------------------------------------------------------
# Scanning
# --------------------------------------------------------------------------------------------------


@dataclass
class _Values:
    """Distinct non-missing string values of a sampled column with how often each occurs."""

    text: pd.Series  # distinct values (str), index 0..k-1
    weight: np.ndarray[Any, np.dtype[np.int64]]
    n: int  # non-missing scanned cells

    def count(self, mask: np.ndarray[Any, np.dtype[np.bool_]]) -> int:
        return int(self.weight[mask].sum())

    def top(self, mask: np.ndarray[Any, np.dtype[np.bool_]], k: int = _MAX_EXAMPLES) -> list[str]:
        """The k most frequent values among ``mask`` (raw; callers mask them)."""
        idx = np.flatnonzero(mask)
        order = idx[np.argsort(-self.weight[idx], kind="stable")][:k]
        return [str(self.text.iloc[i]) for i in order]


def _finding(
    column: str,
    kind: str,
    detail: str,
    count: int,
    values: _Values,
    confidence: float,
    examples: Iterable[str],
    hint: bool,
) -> PiiFinding:
    masked = tuple(dict.fromkeys(mask_value(kind, e) for e in examples))[:_MAX_EXAMPLES]
    return PiiFinding(
        column=column,
        kind=kind,
        detail=detail,
        count=count,
        share=round(count / values.n, 6) if values.n else 0.0,
        confidence=round(min(confidence, 1.0), 2),
        examples=masked,
        rows_scanned=values.n,
        name_hint=hint,
    )


def _check(
    values: _Values, candidates: np.ndarray[Any, np.dtype[np.bool_]], fn: Callable[[str], bool]
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Boolean mask over the distinct values: format candidate *and* checksum valid."""
    ok = np.zeros(len(values.text), dtype=bool)
    for i in np.flatnonzero(candidates):
        ok[i] = fn(str(values.text.iloc[i]))
    return ok


def _scan_text(column: str, values: _Values, min_count: int) -> list[PiiFinding]:
    """Detectors for string-like columns (also used for large integer columns rendered as text)."""
    out: list[PiiFinding] = []
    text = values.text
    if len(text) == 0:
        return out
    claimed = np.zeros(len(text), dtype=bool)  # values already explained by a stronger detector

    # Cheap vectorised pre-filters decide which detectors are worth running at all.
    has_digit = text.str.contains(r"\d", regex=True).to_numpy(dtype=bool)
    compact = text.str.replace(r"[\s\-./]", "", regex=True).str.upper()
    charset_ok = text.str.fullmatch(r"[\dA-Za-z\s\-./+()]{6,40}").to_numpy(dtype=bool)

    # E-mail: searched inside free text too.
    if text.str.contains("@", regex=False).any():
        is_email = text.str.contains(_EMAIL_RE, regex=True).to_numpy(dtype=bool)
        cnt = values.count(is_email)
        if cnt >= min_count:
            hint = _name_hint(column, "email")
            ex = [m.group(0) for v in values.top(is_email) if (m := _EMAIL_RE.search(v))]
            out.append(_finding(column, "email", "e-mail address", cnt, values, 0.99, ex, hint))
            claimed |= is_email

    # IBAN: strong mod-97 checksum plus country length, so a single valid value is enough.
    cand = charset_ok & compact.str.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}").to_numpy(dtype=bool)
    if cand.any():
        ok = _check(values, cand, iban_valid)
        cnt = values.count(ok)
        if cnt >= min_count:
            hint = _name_hint(column, "iban")
            out.append(_finding(column, "iban", "IBAN (mod-97 valid)", cnt, values, 0.99, values.top(ok), hint))
            claimed |= ok

    digits_only = charset_ok & has_digit & compact.str.fullmatch(r"\d{9,19}").to_numpy(dtype=bool)

    # Payment cards: Luhn alone passes 10 % of random numbers, so also require a plausible majority.
    cand = digits_only & compact.str.len().between(12, 19).to_numpy(dtype=bool) & ~claimed
    if cand.any():
        ok = _check(values, cand, payment_card_valid)
        cnt, n_cand = values.count(ok), values.count(cand)
        hint = _name_hint(column, "payment_card")
        if cnt >= min_count and (cnt / n_cand >= 0.5 or (hint and cnt / n_cand >= 0.3)):
            conf = 0.95 if hint or cnt / n_cand >= 0.9 else 0.8
            out.append(
                _finding(
                    column,
                    "payment_card",
                    "card number (Luhn + IIN valid)",
                    cnt,
                    values,
                    conf,
                    values.top(ok),
                    hint,
                )
            )
            claimed |= ok

    # National identity / tax numbers.
    id_hint = _name_hint(column, "national_id")
    for scheme in _ID_SCHEMES:
        cand = charset_ok & compact.str.fullmatch(scheme.pattern).to_numpy(dtype=bool) & ~claimed
        if not cand.any():
            continue
        ok = _check(values, cand, scheme.check)
        cnt, n_cand = values.count(ok), values.count(cand)
        # Mod-10/11/23 checks pass 4–10 % of random strings: demand most format matches to validate.
        if cnt >= min_count and (cnt / n_cand >= 0.5 or (id_hint and cnt / n_cand >= 0.3)):
            conf = 0.99 if id_hint else (0.9 if cnt / n_cand >= 0.9 else 0.7)
            out.append(
                _finding(
                    column,
                    "national_id",
                    f"{scheme.detail} (checksum valid)",
                    cnt,
                    values,
                    conf,
                    values.top(ok),
                    id_hint,
                )
            )
            claimed |= ok

    # Phone numbers: no checksum, so rely on shape and on a majority of the column.
    phone_hint = _name_hint(column, "phone")
    cand = has_digit & ~claimed & text.str.len().between(8, 25).to_numpy(dtype=bool)
    if cand.any():
        stripped = text.str.strip()
        intl = stripped.str.fullmatch(_PHONE_INTL_RE).to_numpy(dtype=bool)
        nat = stripped.str.fullmatch(_PHONE_NAT_RE).to_numpy(dtype=bool)
        n_digits = text.str.count(r"\d").to_numpy()
        # Bare national digit strings look like any other number; accept them only under a phone name.
        has_sep = text.str.contains(r"[\s\-./()]", regex=True).to_numpy(dtype=bool)
        ok = cand & (
            (intl & (n_digits >= 8) & (n_digits <= 15))
            | (nat & (n_digits >= 9) & (n_digits <= 12) & (has_sep | phone_hint))
        )
        cnt = values.count(ok)
        share = cnt / values.n
        if cnt >= min_count and (share >= 0.5 or (phone_hint and share >= 0.2)):
            conf = 0.95 if phone_hint else 0.7
            out.append(_finding(column, "phone", "phone number", cnt, values, conf, values.top(ok), phone_hint))
            claimed |= ok

    # IP addresses: a whole cell that parses as IPv4 / IPv6.
    looks_ip = text.str.fullmatch(r"[0-9A-Fa-f:.]{7,45}").to_numpy(dtype=bool) & ~claimed
    if looks_ip.any():
        ok = _check(values, looks_ip, ip_address_valid)
        # Version strings ("1.2.3.4") parse as IPv4 too: demand a majority of the column.
        cnt = values.count(ok)
        ip_hint = _name_hint(column, "ip_address")
        if cnt >= min_count and (cnt / values.n >= 0.5 or (ip_hint and cnt / values.n >= 0.2)):
            conf = 0.95 if ip_hint else 0.85
            out.append(_finding(column, "ip_address", "IP address", cnt, values, conf, values.top(ok), ip_hint))
            claimed |= ok

    # Kinds inside free text (comments, notes): e-mails were found above, the rest here.
    for finding in _scan_free_text(column, values, claimed, min_count):
        if finding.kind == "email" and any(f.kind == "email" for f in out):
            continue
        out.append(finding)

    # Dates of birth written as text.
    dob = _dob_from_text(column, values, claimed, min_count)
    if dob is not None:
        out.append(dob)

    # Person names.
    name = _person_names(column, values, claimed, min_count)
    if name is not None:
        out.append(name)
    return out


def _dob_from_text(
    column: str, values: _Values, claimed: np.ndarray[Any, np.dtype[np.bool_]], min_count: int
) -> PiiFinding | None:
    text = values.text.str.strip()
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for pattern, fmt in _DATE_RES:
        m = text.str.fullmatch(pattern).to_numpy(dtype=bool) & ~claimed
        if m.any():
            chunk = text[m].str.slice(0, 10) if fmt == "%Y-%m-%d" else text[m]
            parsed[m] = pd.to_datetime(chunk, format=fmt, errors="coerce")
    valid = parsed.notna().to_numpy(dtype=bool)
    if not valid.any():
        return None
    return _dob_decision(column, values, parsed, valid, min_count)


def _dob_decision(
    column: str,
    values: _Values,
    parsed: pd.Series,
    valid: np.ndarray[Any, np.dtype[np.bool_]],
    min_count: int,
) -> PiiFinding | None:
    """Decide whether parsed dates in a column are dates of birth."""
    today = pd.Timestamp(_dt.date.today())
    lo = today - pd.DateOffset(years=120)
    in_range = valid & (parsed >= lo).to_numpy(dtype=bool) & (parsed <= today).to_numpy(dtype=bool)
    cnt = values.count(in_range)
    if cnt < min_count:
        return None
    hint = _name_hint(column, "date_of_birth")
    share_dates = cnt / max(values.count(valid), 1)
    if hint:
        conf = 0.95
    else:
        # Without a telling name, birth dates must look like ages of people: spread over decades and a
        # median age of an adult population. Event dates (transactions, contracts) cluster in recent years.
        years = parsed[in_range].dt.year.to_numpy(dtype=float)
        w = values.weight[in_range].astype(float)
        order = np.argsort(years)
        cum = np.cumsum(w[order]) / w.sum()
        q = {p: years[order][min(int(np.searchsorted(cum, p)), len(years) - 1)] for p in (0.1, 0.5, 0.9)}
        age_median = today.year - q[0.5]
        if not (share_dates >= 0.8 and q[0.9] - q[0.1] >= 15 and 18 <= age_median <= 90):
            return None
        conf = 0.5
    ex = [str(v) for v in values.top(in_range)]
    return _finding(column, "date_of_birth", "date in birth range", cnt, values, conf, ex, hint)


def _person_names(
    column: str, values: _Values, claimed: np.ndarray[Any, np.dtype[np.bool_]], min_count: int
) -> PiiFinding | None:
    """Person names: capitalised (``Anna Schmidt``), lower-case (``anna schmidt``) or ``SCHMIDT, Anna``.

    Value evidence is always needed: a share of the values must start or end with a known first name.
    A telling column name lowers that share (``customer`` with 20 % known first names), it never replaces
    it, so ``customer_segment`` holding ``Premium`` / ``Gold`` is not a name column.
    """
    text = values.text.str.strip()
    last_first = text.str.fullmatch(_LAST_FIRST_RE).to_numpy(dtype=bool) & ~claimed
    cap = (text.str.fullmatch(_CAP_NAME_RE).to_numpy(dtype=bool) | last_first) & ~claimed
    lower = text.str.fullmatch(_LOWER_NAME_RE).to_numpy(dtype=bool) & ~claimed
    shaped = cap | lower
    if not shaped.any():
        return None
    # For "LAST, First" the given name follows the comma.
    reordered = text.where(~last_first, text.str.split(",", n=1).str[-1].str.strip())
    first_tok = reordered.str.split(n=1).str[0].str.lower().str.rstrip(".,")
    last_tok = reordered.str.rsplit(n=1).str[-1].str.lower().str.rstrip(".,")
    known = (first_tok.isin(_FIRST_NAMES) | last_tok.isin(_FIRST_NAMES)).to_numpy(dtype=bool) & shaped
    multi = text.str.contains(r"[\s,]", regex=True).to_numpy(dtype=bool)
    shaped_share = values.count(shaped) / values.n
    known_share = values.count(known) / values.n
    hint = _name_hint(column, "person_name")
    if hint and shaped_share >= 0.6 and known_share >= 0.2:
        conf = 0.95
    elif shaped_share >= 0.6 and known_share >= 0.3 and values.count(known & multi) / values.n >= 0.2:
        conf = 0.6
    elif shaped_share >= 0.6 and known_share >= 0.5:
        conf = 0.5  # single given names ("Anna", "Jan") without a telling column name
    else:
        return None
    cnt = values.count(shaped)
    if cnt < min_count:
        return None
    detail = "person name (column name and known first names)" if hint else "person name (known first names)"
    return _finding(column, "person_name", detail, cnt, values, conf, values.top(shaped), hint)


def _distinct(s: pd.Series) -> _Values:
    """Distinct non-missing values rendered as stripped strings, with their counts."""
    s = s.dropna()
    if len(s) == 0:
        return _Values(pd.Series([], dtype=object), np.zeros(0, dtype=np.int64), 0)
    vc = s.value_counts(sort=False)
    text = pd.Series(vc.index.astype(str), dtype=object).str.strip()
    return _Values(text.reset_index(drop=True), vc.to_numpy(dtype=np.int64), len(s))


def scan_series(s: pd.Series, column: str | None = None, *, min_count: int = 1) -> list[PiiFinding]:
    """Scan one column (already sampled by the caller) and return its findings.

    Strings are checked by every detector. Datetime columns are checked for dates of birth. Integer (or
    integral float) columns are checked as digit strings only when they hold numbers long enough to be
    identifiers, card or phone numbers, so ordinary amounts and counts are never rendered to text.
    """
    name = str(s.name if column is None else column)
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if pd.api.types.is_bool_dtype(s.dtype):
        return []
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        nn = s.dropna()
        if len(nn) == 0:
            return []
        vc = (
            nn.dt.tz_localize(None).value_counts(sort=False)
            if getattr(nn.dt, "tz", None)
            else nn.value_counts(sort=False)
        )
        values = _Values(pd.Series(vc.index.strftime("%Y-%m-%d"), dtype=object), vc.to_numpy(np.int64), len(nn))
        parsed = pd.Series(pd.DatetimeIndex(vc.index).as_unit("ns"))
        return [f] if (f := _dob_decision(name, values, parsed, np.ones(len(vc), bool), min_count)) else []
    if pd.api.types.is_numeric_dtype(s.dtype):
        return _scan_numeric(name, s, min_count)
    return _scan_text(name, _distinct(s), min_count)


def _scan_numeric(name: str, s: pd.Series, min_count: int) -> list[PiiFinding]:
    arr = s.dropna().to_numpy()
    if arr.size == 0 or pd.api.types.is_complex_dtype(arr.dtype):
        return []
    arr = arr.astype(np.float64, copy=False)
    out: list[PiiFinding] = []
    integral = bool(np.all(np.isfinite(arr)) and np.all(arr == np.floor(arr)))
    if integral and _name_hint(name, "date_of_birth"):
        # A birth *year* column (e.g. ``birth_year`` = 1984) is a quasi-identifier worth reporting.
        this_year = _dt.date.today().year
        in_range = (arr >= this_year - 120) & (arr <= this_year)
        cnt = int(in_range.sum())
        if cnt >= min_count and cnt / arr.size >= 0.8:
            values = _Values(
                pd.Series([str(int(v)) for v in arr[in_range][:_MAX_EXAMPLES]]),
                np.ones(min(cnt, _MAX_EXAMPLES), np.int64),
                int(arr.size),
            )
            out.append(
                PiiFinding(
                    name,
                    "date_of_birth",
                    "year of birth",
                    cnt,
                    round(cnt / arr.size, 6),
                    0.6,
                    tuple(dict.fromkeys(mask_value("date_of_birth", v) for v in values.text)),
                    int(arr.size),
                    True,
                )
            )
    # Identifiers, cards and phone numbers have at least 9 digits; smaller numbers are never rendered.
    if integral and np.abs(arr).max() >= 1e8:
        big = s.dropna()
        text = pd.Series(np.abs(big.to_numpy(dtype=np.float64)).astype(np.int64).astype(str), dtype=object)
        out.extend(_scan_text(name, _distinct(text), min_count))
    return out


def scan_dataframe(
    df: pd.DataFrame,
    *,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    columns: Iterable[str] | None = None,
    seed: int = 0,
    min_count: int = 1,
) -> PiiScan:
    """Scan the columns of ``df`` for personal data.

    At most ``sample_rows`` rows are scanned: a uniform random sample drawn with ``seed`` (so reruns give
    the same report) when the frame is larger. The scan result states how many rows were scanned.
    ``min_count`` is the number of detected cells a column needs before it is reported.
    """
    if sample_rows < 1:
        raise ValidationError("must be a positive number of rows", field="sample_rows")
    cols = [str(c) for c in (df.columns if columns is None else columns)]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValidationError(f"unknown columns {missing}", field="columns")
    n = len(df)
    if n > sample_rows:
        pos = np.sort(np.random.default_rng(seed).choice(n, size=sample_rows, replace=False))
        sample = df.iloc[pos]
    else:
        sample = df
    scan = PiiScan(rows_total=n, rows_scanned=len(sample), sample_rows=sample_rows, columns_scanned=cols)
    for c in cols:
        scan.findings.extend(scan_series(sample[c], c, min_count=min_count))
    return scan
