"""ICAO 9303 machine-readable zones: check digits, transliteration of names, and the lines of
TD1 (3 x 30), TD2 (2 x 36) and TD3 (2 x 44) documents. The server parses them again in TypeScript
(inference-server/documents/mrz.ts); tests check both against the PyPI `mrz` package."""
from __future__ import annotations

import unicodedata

WEIGHTS = (7, 3, 1)
LENGTHS = {"TD1": (3, 30), "TD2": (2, 36), "TD3": (2, 44)}


def char_value(c: str) -> int:
    if c.isdigit():
        return int(c)
    if "A" <= c <= "Z":
        return ord(c) - 55
    if c == "<":
        return 0
    raise ValueError(f"not an MRZ character: {c!r}")


def check_digit(s: str) -> str:
    return str(sum(char_value(c) * WEIGHTS[i % 3] for i, c in enumerate(s)) % 10)


# ICAO 9303 part 3, section 6 (transliteration of Latin characters with diacritics): the
# multi-letter forms are the recommended ones; anything else loses its diacritic.
TRANSLIT = {"Ä": "AE", "Å": "AA", "Æ": "AE", "Ö": "OE", "Ø": "OE", "Ü": "UE", "ß": "SS", "Þ": "TH",
            "Œ": "OE", "Ĳ": "IJ", "Ð": "D", "Đ": "D", "Ł": "L", "Ħ": "H", "Ŀ": "L", "ı": "I"}


def transliterate(name: str) -> str:
    """A name as the MRZ writes it: upper case A-Z, spaces and hyphens become '<', apostrophes and
    other punctuation vanish."""
    out = []
    for ch in name.upper().replace("ß", "SS"):
        if ch in TRANSLIT:
            out.append(TRANSLIT[ch])
            continue
        base = unicodedata.normalize("NFD", ch)[0]
        if "A" <= base <= "Z":
            out.append(base)
        elif ch in " -":
            out.append("<")
    s = "".join(out)
    while "<<" in s:
        s = s.replace("<<", "<")
    return s.strip("<")


def pad(s: str, n: int) -> str:
    if len(s) > n:
        raise ValueError(f"{s!r} longer than {n}")
    return s + "<" * (n - len(s))


def name_field(surname: str, given: str, n: int) -> str:
    """SURNAME<<GIVEN<NAMES, truncated to the field (ICAO's simplest truncation)."""
    s = transliterate(surname)
    g = transliterate(given)
    return pad((s + "<<" + g)[:n] if g else s[:n], n)


def number_with_overflow(number: str) -> tuple[str, str, str]:
    """Document number field, its check digit and the optional-data prefix for numbers longer than
    nine characters (TD1/TD2: '<' in the check digit position, the rest and the check digit lead the
    optional data)."""
    if len(number) <= 9:
        return pad(number, 9), check_digit(pad(number, 9)), ""
    return number[:9], "<", number[9:] + check_digit(number)


def td1(doc_code: str, state: str, number: str, birth: str, sex: str, expiry: str, nationality: str,
        surname: str, given: str, optional1: str = "", optional2: str = "") -> list[str]:
    num, cd, overflow = number_with_overflow(number)
    l1 = pad(doc_code, 2) + pad(state, 3) + num + cd + pad(overflow + optional1, 15)
    l2 = birth + check_digit(birth) + sex + expiry + check_digit(expiry) + pad(nationality, 3) + pad(optional2, 11)
    composite = check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
    return [l1, l2 + composite, name_field(surname, given, 30)]


def td2(doc_code: str, state: str, number: str, birth: str, sex: str, expiry: str, nationality: str,
        surname: str, given: str, optional: str = "") -> list[str]:
    num, cd, overflow = number_with_overflow(number)
    l1 = pad(doc_code, 2) + pad(state, 3) + name_field(surname, given, 31)
    l2 = num + cd + pad(nationality, 3) + birth + check_digit(birth) + sex + expiry + check_digit(expiry) + pad(overflow + optional, 7)
    composite = check_digit(l2[0:10] + l2[13:20] + l2[21:35])
    return [l1, l2 + composite]


def td3(doc_code: str, state: str, number: str, birth: str, sex: str, expiry: str, nationality: str,
        surname: str, given: str, personal: str = "") -> list[str]:
    l1 = pad(doc_code, 2) + pad(state, 3) + name_field(surname, given, 39)
    num = pad(number, 9)
    pn = pad(personal, 14)
    # a personal number of fillers only may have '<' as its check digit (ICAO 9303 part 4)
    pcd = "<" if not personal else check_digit(pn)
    l2 = num + check_digit(num) + pad(nationality, 3) + birth + check_digit(birth) + sex + expiry + check_digit(expiry) + pn + pcd
    composite = check_digit(l2[0:10] + l2[13:20] + l2[21:43])
    return [l1, l2 + composite]


def build(kind: str, **f) -> list[str]:
    lines = {"TD1": td1, "TD2": td2, "TD3": td3}[kind](**f)
    rows, width = LENGTHS[kind]
    assert len(lines) == rows and all(len(l) == width for l in lines), lines
    return lines
