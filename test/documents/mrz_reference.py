"""Reference MRZs from the PyPI `mrz` package (a generator and checker independent of this project),
for test/documents/mrz.test.ts: seeded random holders, every document type, printed as JSON.

    python mrz_reference.py N SEED
"""
import json
import random
import sys

from mrz.checker.td1 import TD1CodeChecker
from mrz.checker.td2 import TD2CodeChecker
from mrz.checker.td3 import TD3CodeChecker
from mrz.generator.td1 import TD1CodeGenerator
from mrz.generator.td2 import TD2CodeGenerator
from mrz.generator.td3 import TD3CodeGenerator

SURNAMES = ["ERIKSSON", "MUSTERMANN", "DUPONT", "GARCIA LOPEZ", "VAN DER BERG", "O'BRIEN", "NOWAK", "SILVA", "ROSSI", "SMITH-JONES"]
GIVEN = ["ANNA MARIA", "ERIKA", "JEAN PIERRE", "JOSE", "DAAN", "SEAN", "LUKASZ", "JOAO", "GIULIA", "JOHN PAUL GEORGE"]
STATES = ["UTO", "D", "FRA", "ESP", "NLD", "IRL", "POL", "PRT", "ITA", "GBR"]
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def date(rng, lo, hi):
    y = rng.randint(lo, hi)
    m = rng.randint(1, 12)
    d = rng.randint(1, 28)
    return f"{y % 100:02d}{m:02d}{d:02d}", f"{y:04d}-{m:02d}-{d:02d}"


def main(n: int, seed: int):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = ["TD1", "TD2", "TD3"][i % 3]
        state, nat = rng.choice(STATES), rng.choice(STATES)
        number = "".join(rng.choice(ALNUM) for _ in range(rng.randint(6, 9)))
        birth, birth_iso = date(rng, 1930, 2015)
        expiry, expiry_iso = date(rng, 2018, 2040)
        sex = rng.choice("MFX")
        sur, giv = rng.choice(SURNAMES), rng.choice(GIVEN)
        opt = "".join(rng.choice(ALNUM) for _ in range(rng.randint(0, 7)))
        if kind == "TD1":
            code = str(TD1CodeGenerator(rng.choice(["I", "ID", "IR"]), state, number, birth, sex, expiry, nat, sur, giv, opt))
            ok = bool(TD1CodeChecker(code))
        elif kind == "TD2":
            code = str(TD2CodeGenerator(rng.choice(["I", "IR"]), state, sur, giv, number, nat, birth, sex, expiry, opt))
            ok = bool(TD2CodeChecker(code))
        else:
            code = str(TD3CodeGenerator("P", state, sur, giv, number, nat, birth, sex, expiry, opt))
            ok = bool(TD3CodeChecker(code))
        out.append({"type": kind, "lines": code.split("\n"), "checkerValid": ok, "number": number, "state": state, "nationality": nat,
                    "birthDate": birth_iso, "expiryDate": expiry_iso, "sex": sex, "surname": sur, "givenNames": giv, "optional": opt})
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
