"""Made-up holders of made-up documents: names (with the diacritics of each language), document
numbers, dates and sex, drawn from a seeded generator. No real person's data."""
from __future__ import annotations

from dataclasses import dataclass
import datetime as dt

# Common given names and surnames per language, chosen to cover the diacritics the field reader
# must know. Lists of common names are facts, not personal data.
NAMES = {
    "en": {
        "surname": ["ERIKSSON", "SMITH", "JOHNSON", "O'BRIEN", "WILLIAMS", "BROWN", "TAYLOR", "MACDONALD", "WILSON", "EVANS",
                    "THOMPSON", "WRIGHT", "ROBINSON", "WALKER", "HUGHES", "EDWARDS", "GREEN", "HALL", "WOOD", "HARRIS",
                    "CLARKE", "JACKSON", "TURNER", "HILL", "MOORE", "COOPER", "WARD", "MORRIS", "KING", "BAKER"],
        "given": ["ANNA", "MARIA", "JOHN", "OLIVER", "EMILY", "JAMES", "SOPHIE", "THOMAS", "GRACE", "DANIEL", "CHLOE", "SAMUEL",
                  "LUCY", "HENRY", "ISLA", "JACK", "AMELIA", "NOAH", "ELLA", "LEO", "MIA", "GEORGE", "ZOE", "OSCAR", "RUBY",
                  "ZACHARY", "QUINN", "XAVIER", "YVONNE", "KATE"],
    },
    "de": {
        "surname": ["MÜLLER", "SCHMIDT", "SCHNEIDER", "FISCHER", "WEBER", "MEYER", "WAGNER", "BECKER", "SCHULZ", "HOFFMANN",
                    "SCHÄFER", "KOCH", "BAUER", "RICHTER", "KLEIN", "WOLF", "SCHRÖDER", "NEUMANN", "SCHWARZ", "ZIMMERMANN",
                    "BRAUN", "KRÜGER", "HOFMANN", "HARTMANN", "LANGE", "WERNER", "KRAUSE", "LEHMANN", "KÖHLER", "GROSSMANN",
                    "JÄGER", "GÖTZ", "STRAUSS", "MUSTERMANN", "WEISS"],
        "given": ["JÜRGEN", "GÜNTER", "ERIKA", "KLAUS", "JÖRG", "BÄRBEL", "LUKAS", "LEONIE", "FELIX", "SÖREN", "HANNAH", "JONAS",
                  "MAXIMILIAN", "LENA", "PAUL", "MARIE", "UWE", "URSULA", "DIETER", "HEIKE", "FRANZ", "GRETA", "KÄTHE", "BJÖRN",
                  "MATTHIAS", "SABINE", "TOBIAS", "JULIA", "VOLKER", "ANKE"],
    },
    "fr": {
        "surname": ["MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY", "MOREAU",
                    "SIMON", "LAURENT", "LEFÈVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX", "VINCENT", "FOURNIER",
                    "GIRARD", "BONNET", "DUPONT", "LAMBERT", "FONTAINE", "ROUSSEAU", "BLANC", "GUÉRIN", "MÜLLER", "FRANÇOIS",
                    "D'ARTAGNAN", "CHÂTEAU", "LEBŒUF", "NOËL", "HÉBERT"],
        "given": ["CÉLINE", "HÉLÈNE", "FRANÇOIS", "JÉRÔME", "ZOÉ", "CHLOÉ", "LÉA", "GAËLLE", "NOÉMIE", "JOËL", "RENÉ", "AGNÈS",
                  "THÉO", "ANAÏS", "MAËLYS", "LOÏC", "GÉRARD", "ÉLODIE", "MARIE", "JEAN", "PIERRE", "CAMILLE", "LOUIS", "JULIE",
                  "NICOLAS", "SOPHIE", "ANDRÉ", "BÉATRICE", "YVES", "CÉCILE"],
    },
    "es": {
        "surname": ["GARCÍA", "FERNÁNDEZ", "GONZÁLEZ", "RODRÍGUEZ", "LÓPEZ", "MARTÍNEZ", "SÁNCHEZ", "PÉREZ", "GÓMEZ", "MARTÍN",
                    "JIMÉNEZ", "RUIZ", "HERNÁNDEZ", "DÍAZ", "MORENO", "MUÑOZ", "ÁLVAREZ", "ROMERO", "ALONSO", "GUTIÉRREZ",
                    "NAVARRO", "TORRES", "DOMÍNGUEZ", "VÁZQUEZ", "RAMOS", "GIL", "RAMÍREZ", "SERRANO", "BLANCO", "IBÁÑEZ",
                    "NÚÑEZ", "ESPAÑOL", "CASTAÑO", "PEÑA", "MUÑIZ"],
        "given": ["JOSÉ", "MARÍA", "JESÚS", "ÁNGEL", "LUCÍA", "SOFÍA", "RAÚL", "IÑAKI", "NÚRIA", "MARTÍN", "ANDRÉS", "INÉS",
                  "CARMEN", "JAVIER", "ELENA", "PABLO", "ROCÍO", "ÓSCAR", "BEGOÑA", "RUBÉN", "ALMUDENA", "TOMÁS", "PILAR",
                  "SERGIO", "ÁLVARO", "NOELIA", "DAVID", "IRENE", "JOAQUÍN", "ESTÍBALIZ"],
    },
    "nl": {
        "surname": ["DE JONG", "JANSEN", "DE VRIES", "VAN DEN BERG", "VAN DIJK", "BAKKER", "JANSSEN", "VISSER", "SMIT", "MEIJER",
                    "DE BOER", "MULDER", "DE GROOT", "BOS", "VOS", "PETERS", "HENDRIKS", "VAN LEEUWEN", "DEKKER", "BROUWER",
                    "DE WIT", "DIJKSTRA", "SMITS", "DE GRAAF", "VAN DER MEER", "KOK", "JACOBS", "VAN DER LINDEN", "HUISMAN", "WILLEMS"],
        "given": ["WILLEKE", "DAAN", "SEM", "LIEKE", "FLEUR", "BRAM", "JOOST", "ANOUK", "MAARTEN", "NOOR", "RUBEN", "FENNA",
                  "THIJS", "SANNE", "PIETER", "EVA", "JEROEN", "LOTTE", "HENK", "MARIJKE", "KEES", "INGRID", "GERRIT", "ANNEKE",
                  "DIRK", "ESTHER", "MEREL", "JORIS", "SASKIA", "TEUN"],
    },
    "sv": {
        "surname": ["ANDERSSON", "JOHANSSON", "KARLSSON", "NILSSON", "ERIKSSON", "LARSSON", "OLSSON", "PERSSON", "SVENSSON",
                    "GUSTAFSSON", "PETTERSSON", "JONSSON", "JANSSON", "HANSSON", "BENGTSSON", "JÖNSSON", "LINDBERG", "JAKOBSSON",
                    "MAGNUSSON", "LINDSTRÖM", "ÅBERG", "SJÖBERG", "HÄGGLUND", "NORDSTRÖM", "ÖSTLUND", "BJÖRK", "LUNDQVIST",
                    "FORSBERG", "SANDBERG", "ÅSTRÖM"],
        "given": ["ÅSA", "BJÖRN", "GÖRAN", "MÅNS", "SÖLVE", "LINNÉA", "ASTRID", "ERIK", "KARIN", "LARS", "INGRID", "OLOF",
                  "SIGRID", "ANDERS", "MÄRTA", "TORBJÖRN", "ELSA", "GUSTAV", "HEDDA", "NILS", "EBBA", "STIG", "MAJA", "VIKTOR",
                  "SAGA", "OSKAR", "FRIDA", "HÅKAN", "ALVA", "JÖRGEN"],
    },
    "pl": {
        "surname": ["NOWAK", "KOWALSKI", "WIŚNIEWSKI", "WÓJCIK", "KOWALCZYK", "KAMIŃSKI", "LEWANDOWSKI", "ZIELIŃSKI", "SZYMAŃSKI",
                    "WOŹNIAK", "DĄBROWSKI", "KOZŁOWSKI", "JANKOWSKI", "MAZUR", "KWIATKOWSKI", "KRAWCZYK", "PIOTROWSKI",
                    "GRABOWSKI", "NOWAKOWSKI", "PAWŁOWSKI", "MICHALSKI", "KRÓL", "WIECZOREK", "JABŁOŃSKI", "WRÓBEL",
                    "MAJEWSKI", "OLSZEWSKI", "STĘPIEŃ", "JAWORSKI", "MALINOWSKI", "GÓRSKI", "RUTKOWSKA", "ŻAK", "ŹRÓDŁO"],
        "given": ["ŁUKASZ", "MAŁGORZATA", "KRZYSZTOF", "AGNIESZKA", "JĘDRZEJ", "ŻANETA", "MICHAŁ", "KATARZYNA", "PAWEŁ",
                  "JOANNA", "TOMASZ", "BARBARA", "MARIUSZ", "ELŻBIETA", "GRZEGORZ", "EWA", "WOJCIECH", "ANNA", "MACIEJ",
                  "ZOFIA", "STANISŁAW", "HALINA", "PRZEMYSŁAW", "ALICJA", "BOLESŁAW", "JADWIGA", "ZBIGNIEW", "URSZULA",
                  "MIROSŁAW", "BOŻENA"],
    },
    "pt": {
        "surname": ["SILVA", "SANTOS", "FERREIRA", "PEREIRA", "OLIVEIRA", "COSTA", "RODRIGUES", "MARTINS", "JESUS", "SOUSA",
                    "FERNANDES", "GONÇALVES", "GOMES", "LOPES", "MARQUES", "ALVES", "ALMEIDA", "RIBEIRO", "PINTO", "CARVALHO",
                    "TEIXEIRA", "MOREIRA", "CORREIA", "MENDES", "NUNES", "SOARES", "VIEIRA", "MONTEIRO", "CARDOSO", "ROCHA",
                    "CONCEIÇÃO", "ASSUNÇÃO", "GUIMARÃES", "LEITÃO", "FALCÃO"],
        "given": ["JOÃO", "ANTÓNIO", "JOSÉ", "CONCEIÇÃO", "MARIA", "ANA", "FRANCISCO", "INÊS", "GONÇALO", "BEATRIZ", "SIMÃO",
                  "LEONOR", "TOMÁS", "MATILDE", "RODRIGO", "CAROLINA", "DUARTE", "MARIANA", "AFONSO", "LARA", "SEBASTIÃO",
                  "VITÓRIA", "ESTÊVÃO", "MÓNICA", "CÂNDIDA", "RAQUEL", "LUÍS", "ROSÁRIO", "FÁTIMA", "PEDRO"],
    },
    "it": {
        "surname": ["ROSSI", "RUSSO", "FERRARI", "ESPOSITO", "BIANCHI", "ROMANO", "COLOMBO", "RICCI", "MARINO", "GRECO",
                    "BRUNO", "GALLO", "CONTI", "DE LUCA", "MANCINI", "COSTA", "GIORDANO", "RIZZO", "LOMBARDI", "MORETTI",
                    "BARBIERI", "FONTANA", "SANTORO", "MARIANI", "RINALDI", "CARUSO", "FERRARA", "GALLI", "MARTINI", "LEONE",
                    "NICCOLÒ", "D'ANGELO", "DELL'ACQUA", "FORTÈ", "PERÙ"],
        "given": ["NICCOLÒ", "GIOSUÈ", "LUCIA", "GIUSEPPE", "FRANCESCA", "MARCO", "CHIARA", "ALESSANDRO", "GIULIA", "LORENZO",
                  "SARA", "MATTEO", "ELISA", "ANDREA", "MARTINA", "FEDERICO", "ALICE", "RICCARDO", "GIORGIA", "TOMMASO",
                  "BEATRICE", "ENEA", "ILARIA", "PASQUALE", "GRAZIA", "SALVATORE", "ROSARIA", "VINCENZO", "CARMELA", "DOMENICO"],
    },
    "cs": {
        "surname": ["NOVÁK", "SVOBODA", "NOVOTNÝ", "DVOŘÁK", "ČERNÝ", "PROCHÁZKA", "KUČERA", "VESELÝ", "HORÁK", "NĚMEC",
                    "POKORNÝ", "MAREK", "POSPÍŠIL", "HÁJEK", "JELÍNEK", "KRÁL", "RŮŽIČKA", "BENEŠ", "FIALA", "SEDLÁČEK",
                    "DOLEŽAL", "ZEMAN", "KOLÁŘ", "NAVRÁTIL", "ČERMÁK", "URBAN", "VANĚK", "BLAŽEK", "KŘÍŽ", "KOVÁŘ",
                    "ŠŤASTNÝ", "ŘEZNÍČEK", "ŽÁK"],
        "given": ["JIŘÍ", "JAN", "PETR", "JOSEF", "PAVEL", "MARTIN", "TOMÁŠ", "JAROSLAV", "MIROSLAV", "ZDENĚK", "VÁCLAV",
                  "MICHAL", "FRANTIŠEK", "JAKUB", "LUKÁŠ", "MARIE", "JANA", "EVA", "HANA", "ANNA", "LENKA", "KATEŘINA",
                  "LUCIE", "VĚRA", "ALENA", "PETRA", "IVANA", "MARKÉTA", "ZUZANA", "ŠÁRKA"],
    },
}

# Month abbreviations for the visual zone's dates (English, French, German, Spanish, Italian,
# Portuguese, Dutch, Swedish, Polish, Czech); the server parses the same ones.
MONTHS = {
    "en": ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    "fr": ["JAN", "FÉV", "MARS", "AVR", "MAI", "JUIN", "JUIL", "AOÛT", "SEPT", "OCT", "NOV", "DÉC"],
    "de": ["JAN", "FEB", "MÄR", "APR", "MAI", "JUN", "JUL", "AUG", "SEP", "OKT", "NOV", "DEZ"],
    "es": ["ENE", "FEB", "MAR", "ABR", "MAY", "JUN", "JUL", "AGO", "SEP", "OCT", "NOV", "DIC"],
}

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
NO_VOWELS = "BCDFGHJKLMNPRTVWXYZ"  # German document numbers avoid vowels and confusables


@dataclass
class Holder:
    surname: str       # as printed in the visual zone (language's spelling, upper case)
    given: str
    sex: str           # M, F or X
    birth: dt.date
    issue: dt.date
    expiry: dt.date
    number: str        # document number, without fillers
    personal: str      # personal number / optional data ('' if none)
    nationality: str   # ICAO code (3 letters, or D)


def pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def rand_chars(rng, chars, n):
    return "".join(pick(rng, chars) for _ in range(n))


def make_name(rng, lang: str) -> tuple[str, str]:
    n = NAMES[lang]
    surname = pick(rng, n["surname"])
    if lang == "es":  # two surnames
        surname = f"{surname} {pick(rng, n['surname'])}"
    elif rng.random() < 0.08:  # double-barrelled
        surname = f"{surname}-{pick(rng, n['surname'])}"
    k = 1 + int(rng.random() < 0.45) + int(rng.random() < 0.12)
    given = []
    while len(given) < k:
        g = pick(rng, n["given"])
        if g not in given:
            given.append(g)
    return surname, " ".join(given)


def document_number(rng, style: str) -> str:
    if style == "uto":        # D23145890: a letter and 8 digits
        return pick(rng, LETTERS) + rand_chars(rng, DIGITS, 8)
    if style == "deu":        # L01X00T47: nine characters, no vowels
        return pick(rng, "CFGHJKLMNPRTVWXYZ") + rand_chars(rng, "0123456789" + "CFGHJKLMNPRTVWXYZ", 8)
    if style == "fra":        # X4RTBPFW4 (2021 card), or 12-character number of older cards
        return rand_chars(rng, LETTERS + DIGITS, 9)
    if style == "esp":        # BAA000589
        return rand_chars(rng, LETTERS, 3) + rand_chars(rng, DIGITS, 6)
    if style == "passport":   # two letters, seven digits
        return rand_chars(rng, LETTERS, 2) + rand_chars(rng, DIGITS, 7)
    if style == "long":       # longer than nine characters: the ICAO overflow into optional data
        return rand_chars(rng, LETTERS, 3) + rand_chars(rng, DIGITS, int(rng.integers(7, 10)))
    return rand_chars(rng, LETTERS + DIGITS, 9)


def random_date(rng, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=int(rng.integers(0, (end - start).days + 1)))


# The documents are dated around this day, so expiry dates fall on both sides of the century turn
# and some documents are expired (the server must choose the century of YYMMDD sensibly).
TODAY = dt.date(2026, 6, 1)


def make_holder(rng, lang: str, nationality: str, number_style: str, validity_years: int, personal_style: str | None,
                long_numbers: bool = False) -> Holder:
    surname, given = make_name(rng, lang)
    sex = "F" if rng.random() < 0.49 else "M"
    if rng.random() < 0.03:
        sex = "X"
    birth = random_date(rng, dt.date(1931, 1, 1), dt.date(2019, 12, 31))
    issue = random_date(rng, max(birth + dt.timedelta(days=30), TODAY - dt.timedelta(days=365 * validity_years + 200)), TODAY)
    try:
        expiry = issue.replace(year=issue.year + validity_years) - dt.timedelta(days=1)
    except ValueError:  # 29 February
        expiry = issue.replace(year=issue.year + validity_years, day=28)
    # long numbers overflow into the optional data, which only TD1 and TD2 allow
    number = document_number(rng, "long" if long_numbers and number_style == "fra" and rng.random() < 0.15 else number_style)
    personal = ""
    if personal_style == "digits":
        personal = rand_chars(rng, DIGITS, int(rng.integers(6, 12)))
    elif personal_style == "alnum" and rng.random() < 0.7:
        personal = rand_chars(rng, LETTERS + DIGITS, 9)
    return Holder(surname, given, sex, birth, issue, expiry, number, personal, nationality)


def yymmdd(d: dt.date) -> str:
    return d.strftime("%y%m%d")
