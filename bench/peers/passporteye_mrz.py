"""The peer of `npm run eval:documents`: PassportEye (PyPI `passporteye`, tesseract-based MRZ reader)
on the same held-out photos. Bench-only: installed into its own venv by bench/eval-documents.ts,
needs Debian's tesseract-ocr; never a runtime dependency of the server.

    python passporteye_mrz.py FILE...      # one JSON line per photo: file, ms, cpuMs, mrz (to_dict() or null)
"""
import json
import resource
import sys
import time
import warnings

from passporteye import read_mrz


def cpu_s() -> float:
    """CPU seconds of this process and of its finished children (tesseract runs as a subprocess)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main(files):
    warnings.filterwarnings("ignore")
    for f in files:
        t = time.perf_counter()
        c = cpu_s()
        try:
            mrz = read_mrz(f)
            out = mrz.to_dict() if mrz is not None else None
            err = None
        except Exception as e:  # a peer that crashes on a photo scores it as unread
            out, err = None, f"{type(e).__name__}: {e}"
        ms = (time.perf_counter() - t) * 1000
        cpu_ms = (cpu_s() - c) * 1000
        print(json.dumps({"file": f, "ms": round(ms, 1), "cpuMs": round(cpu_ms, 1), "mrz": out, "error": err}, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
