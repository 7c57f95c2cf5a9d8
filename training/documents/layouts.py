"""National layouts of the synthetic documents: which fields a face shows, where, with which
labels, date format and look. The designs are invented (none copies a real document); the country
codes, name spellings and label languages are those of the countries named."""
from __future__ import annotations

from dataclasses import dataclass, field

# mm of each format (ICAO 9303 part 2: ID-1 card, ID-2 card, passport data page)
SIZES_MM = {"TD1": (85.6, 53.98), "TD2": (105.0, 74.0), "TD3": (125.0, 88.0)}

# The fields the server reads (the detector's zone classes) and distractors printed like them.
TARGET_FIELDS = ["surname", "given", "number", "nationality", "birth", "sex", "expiry", "state"]
DISTRACTORS = ["issue", "place", "authority", "height", "can"]

LABELS = {
    "en": dict(surname="Surname", given="Given names", sex="Sex", nationality="Nationality", birth="Date of birth",
               expiry="Date of expiry", number="Document no.", state="Code", issue="Date of issue", place="Place of birth",
               authority="Authority", height="Height", can="CAN"),
    "fr": dict(surname="Nom", given="Prénoms", sex="Sexe", nationality="Nationalité", birth="Date de naissance",
               expiry="Date d'expiration", number="N° du document", state="Code", issue="Date de délivrance",
               place="Lieu de naissance", authority="Autorité", height="Taille", can="CAN"),
    "de": dict(surname="Name", given="Vornamen", sex="Geschlecht", nationality="Staatsangehörigkeit", birth="Geburtsdatum",
               expiry="Gültig bis", number="Ausweisnummer", state="Kode", issue="Ausstellungsdatum", place="Geburtsort",
               authority="Behörde", height="Größe", can="Zugangsnummer"),
    "es": dict(surname="Apellidos", given="Nombre", sex="Sexo", nationality="Nacionalidad", birth="Fecha de nacimiento",
               expiry="Válido hasta", number="Núm. soporte", state="Código", issue="Fecha de expedición",
               place="Lugar de nacimiento", authority="Autoridad", height="Estatura", can="CAN"),
    "nl": dict(surname="Naam", given="Voornamen", sex="Geslacht", nationality="Nationaliteit", birth="Geboortedatum",
               expiry="Geldig tot", number="Documentnummer", state="Code", issue="Datum van afgifte", place="Geboorteplaats",
               authority="Autoriteit", height="Lengte", can="CAN"),
    "sv": dict(surname="Efternamn", given="Förnamn", sex="Kön", nationality="Medborgarskap", birth="Födelsedatum",
               expiry="Giltig t.o.m.", number="Dokumentnummer", state="Kod", issue="Utfärdandedatum", place="Födelseort",
               authority="Myndighet", height="Längd", can="CAN"),
    "pl": dict(surname="Nazwisko", given="Imiona", sex="Płeć", nationality="Obywatelstwo", birth="Data urodzenia",
               expiry="Data ważności", number="Numer dokumentu", state="Kod", issue="Data wydania", place="Miejsce urodzenia",
               authority="Organ wydający", height="Wzrost", can="CAN"),
    "pt": dict(surname="Apelido", given="Nome", sex="Sexo", nationality="Nacionalidade", birth="Data de nascimento",
               expiry="Data de validade", number="N.º documento", state="Código", issue="Data de emissão",
               place="Local de nascimento", authority="Autoridade", height="Altura", can="CAN"),
    "it": dict(surname="Cognome", given="Nome", sex="Sesso", nationality="Cittadinanza", birth="Data di nascita",
               expiry="Scadenza", number="N. documento", state="Codice", issue="Data di emissione", place="Luogo di nascita",
               authority="Autorità", height="Statura", can="CAN"),
    "cs": dict(surname="Příjmení", given="Jméno", sex="Pohlaví", nationality="Státní občanství", birth="Datum narození",
               expiry="Platnost do", number="Číslo dokladu", state="Kód", issue="Datum vydání", place="Místo narození",
               authority="Úřad", height="Výška", can="CAN"),
}

# how each state writes its nationality in the visual zone (the server maps these words back to codes)
NATIONALITY_WORDS = {"UTO": "UTOPIAN", "D": "DEUTSCH", "FRA": "FRANÇAISE", "ESP": "ESPAÑOLA", "NLD": "NEDERLANDSE",
                     "SWE": "SVENSK", "POL": "POLSKIE", "PRT": "PORTUGUESA", "ITA": "ITALIANA", "CZE": "ČESKÁ REPUBLIKA"}
NAME_LANG = {"UTO": "en", "D": "de", "FRA": "fr", "ESP": "es", "NLD": "nl", "SWE": "sv", "POL": "pl", "PRT": "pt",
             "ITA": "it", "CZE": "cs"}
PLACES = ["UTOPIA CITY", "BERLIN", "MÜNCHEN", "PARIS", "LYON", "MADRID", "SEVILLA", "AMSTERDAM", "STOCKHOLM", "GÖTEBORG",
          "WARSZAWA", "ŁÓDŹ", "LISBOA", "PORTO", "ROMA", "NAPOLI", "PRAHA", "BRNO", "KÖLN", "MÁLAGA", "KRAKÓW", "ÖREBRO"]


@dataclass
class Layout:
    key: str
    kind: str                 # TD1 | TD2 | TD3
    state: str                # issuing state (ICAO code)
    doc_code: str
    label_langs: list[str]
    title: list[str]
    rows: list[list[tuple[str, float]]]  # rows of (field, share of the text column's width)
    date_format: str          # DMY. | DMY_ | DMY/ | DMonY | DMonMonY
    month_lang: str = "en"
    nationality: str = "word"  # word | code
    number_style: str = "uto"
    validity: int = 10
    personal: str | None = None
    portrait: str = "left"    # left | right
    name_case: str = "upper"  # upper | title (given names)
    hue: float = 0.55         # palette, 0..1
    foreign_holders: bool = False  # residence permits: the holder's nationality differs from the state
    header_band: bool = True


LAYOUTS = [
    Layout("UTO-ID", "TD1", "UTO", "I<", ["en"], ["UTOPIA", "IDENTITY CARD"],
           [[("surname", 1)], [("given", 1)], [("sex", 0.2), ("nationality", 0.4), ("birth", 0.4)],
            [("number", 0.5), ("expiry", 0.5)]], "DMonY", nationality="word", number_style="uto", hue=0.58),
    Layout("D-ID", "TD1", "D", "ID", ["de", "en"], ["BUNDESREPUBLIK DEUTSCHLAND", "PERSONALAUSWEIS / IDENTITY CARD"],
           [[("number", 0.55), ("can", 0.45)], [("surname", 1)], [("given", 1)], [("birth", 0.5), ("nationality", 0.5)],
            [("sex", 0.25), ("expiry", 0.45), ("place", 0.3)]], "DMY.", nationality="word", number_style="deu",
           portrait="left", hue=0.08),
    Layout("FRA-ID", "TD1", "FRA", "ID", ["fr", "en"], ["RÉPUBLIQUE FRANÇAISE", "CARTE NATIONALE D'IDENTITÉ"],
           [[("surname", 1)], [("given", 1)], [("sex", 0.2), ("nationality", 0.3), ("birth", 0.5)],
            [("number", 0.5), ("expiry", 0.5)]], "DMY_", nationality="code", number_style="fra", portrait="left",
           name_case="title", hue=0.62),
    Layout("ESP-ID", "TD1", "ESP", "ID", ["es"], ["ESPAÑA", "DOCUMENTO NACIONAL DE IDENTIDAD"],
           [[("surname", 1)], [("given", 1)], [("sex", 0.25), ("nationality", 0.35), ("birth", 0.4)],
            [("number", 0.5), ("expiry", 0.5)]], "DMY_", nationality="code", number_style="esp", portrait="left",
           hue=0.02, personal="alnum"),
    Layout("NLD-ID", "TD1", "NLD", "I<", ["nl", "en"], ["KONINKRIJK DER NEDERLANDEN", "IDENTITEITSKAART"],
           [[("surname", 1)], [("given", 1)], [("birth", 0.5), ("sex", 0.2), ("nationality", 0.3)],
            [("number", 0.5), ("expiry", 0.5)]], "DMonY", month_lang="en", nationality="word", number_style="passport",
           portrait="right", hue=0.08, personal="digits"),
    Layout("UTO-RP", "TD2", "UTO", "IR", ["en"], ["UTOPIA", "RESIDENCE PERMIT"],
           [[("surname", 1)], [("given", 1)], [("nationality", 0.55), ("sex", 0.2), ("birth", 0.25)],
            [("number", 0.5), ("expiry", 0.5)], [("issue", 0.5), ("authority", 0.5)]], "DMY.", nationality="code",
           number_style="uto", validity=5, foreign_holders=True, hue=0.35),
    Layout("SWE-ID", "TD2", "SWE", "I<", ["sv", "en"], ["SVERIGE", "NATIONELLT IDENTITETSKORT"],
           [[("surname", 1)], [("given", 1)], [("nationality", 0.5), ("birth", 0.5)], [("sex", 0.3), ("height", 0.3), ("number", 0.4)],
            [("issue", 0.5), ("expiry", 0.5)]], "DMonY", month_lang="en", nationality="word", number_style="passport",
           validity=5, portrait="right", hue=0.6),
    Layout("CZE-RP", "TD2", "CZE", "IR", ["cs", "en"], ["ČESKÁ REPUBLIKA", "POVOLENÍ K POBYTU / RESIDENCE PERMIT"],
           [[("number", 0.5), ("expiry", 0.5)], [("surname", 1)], [("given", 1)], [("sex", 0.25), ("birth", 0.4), ("nationality", 0.35)],
            [("issue", 0.5), ("place", 0.5)]], "DMY.", nationality="code", number_style="uto", validity=5,
           foreign_holders=True, portrait="left", hue=0.85),
    Layout("UTO-P", "TD3", "UTO", "P<", ["en", "fr"], ["UTOPIA", "PASSPORT / PASSEPORT"],
           [[("state", 0.35), ("number", 0.65)], [("surname", 1)], [("given", 1)], [("nationality", 1)],
            [("birth", 0.6), ("sex", 0.4)], [("place", 1)], [("issue", 0.5), ("authority", 0.5)], [("expiry", 1)]],
           "DMonMonY", month_lang="en", nationality="word", number_style="passport", personal="alnum", hue=0.75),
    Layout("D-P", "TD3", "D", "P<", ["de", "en", "fr"], ["BUNDESREPUBLIK DEUTSCHLAND", "REISEPASS / PASSPORT / PASSEPORT"],
           [[("state", 0.3), ("number", 0.7)], [("surname", 1)], [("given", 1)], [("birth", 0.5), ("nationality", 0.5)],
            [("sex", 0.3), ("place", 0.7)], [("issue", 0.5), ("expiry", 0.5)], [("authority", 1)]], "DMY.",
           nationality="word", number_style="deu", hue=0.95),
    Layout("POL-P", "TD3", "POL", "P<", ["pl", "en", "fr"], ["RZECZPOSPOLITA POLSKA", "PASZPORT / PASSPORT"],
           [[("state", 0.3), ("number", 0.7)], [("surname", 1)], [("given", 1)], [("nationality", 1)],
            [("birth", 0.5), ("sex", 0.5)], [("place", 1)], [("issue", 0.5), ("expiry", 0.5)], [("authority", 1)]],
           "DMY.", nationality="word", number_style="passport", personal="digits", portrait="left", hue=0.0),
    Layout("PRT-P", "TD3", "PRT", "P<", ["pt", "en"], ["REPÚBLICA PORTUGUESA", "PASSAPORTE / PASSPORT"],
           [[("state", 0.35), ("number", 0.65)], [("surname", 1)], [("given", 1)], [("nationality", 0.6), ("sex", 0.4)],
            [("birth", 0.5), ("height", 0.5)], [("place", 1)], [("issue", 0.5), ("expiry", 0.5)]], "DMY/",
           nationality="code", number_style="passport", portrait="left", hue=0.45),
    Layout("ITA-ID", "TD1", "ITA", "CI", ["it", "en"], ["REPUBBLICA ITALIANA", "CARTA D'IDENTITÀ / IDENTITY CARD"],
           [[("surname", 1)], [("given", 1)], [("place", 0.6), ("sex", 0.4)], [("birth", 0.5), ("nationality", 0.5)],
            [("number", 0.5), ("expiry", 0.5)]], "DMY.", nationality="code", number_style="passport", portrait="left",
           hue=0.5),
    Layout("CZE-ID", "TD1", "CZE", "ID", ["cs", "en"], ["ČESKÁ REPUBLIKA", "OBČANSKÝ PRŮKAZ / IDENTITY CARD"],
           [[("surname", 1)], [("given", 1)], [("birth", 0.5), ("sex", 0.5)], [("nationality", 1)],
            [("number", 0.5), ("expiry", 0.5)]], "DMY.", nationality="word", number_style="passport", portrait="left",
           name_case="title", hue=0.15),
    Layout("FRA-P", "TD3", "FRA", "P<", ["fr", "en"], ["RÉPUBLIQUE FRANÇAISE", "PASSEPORT / PASSPORT"],
           [[("state", 0.3), ("number", 0.7)], [("surname", 1)], [("given", 1)], [("nationality", 0.6), ("sex", 0.4)],
            [("birth", 1)], [("place", 1)], [("issue", 0.5), ("expiry", 0.5)], [("authority", 1)]], "DMonMonY",
           month_lang="fr", nationality="word", number_style="fra", hue=0.65),
]
BY_KEY = {l.key: l for l in LAYOUTS}

MONTHS_EN = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
MONTHS_FR = ["JAN", "FÉV", "MARS", "AVR", "MAI", "JUIN", "JUIL", "AOÛT", "SEPT", "OCT", "NOV", "DÉC"]


def format_date(d, fmt: str, month_lang: str = "en") -> str:
    if fmt == "DMY.":
        return d.strftime("%d.%m.%Y")
    if fmt == "DMY_":
        return d.strftime("%d %m %Y")
    if fmt == "DMY/":
        return d.strftime("%d/%m/%Y")
    months = MONTHS_FR if month_lang == "fr" else MONTHS_EN
    if fmt == "DMonY":
        return f"{d.day:02d} {months[d.month - 1]} {d.year}"
    if fmt == "DMonMonY":  # bilingual month, national language first (ICAO specimen: 12 AUG/AOUT 74)
        other = MONTHS_EN if month_lang == "fr" else MONTHS_FR
        return f"{d.day:02d} {months[d.month - 1]}/{other[d.month - 1]} {d.year}"
    raise ValueError(fmt)
