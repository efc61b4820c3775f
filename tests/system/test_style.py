"""test_style — the house rules of STYLE.md that a reader of the source can check mechanically.

- Rule 7: no banned functions (sprintf, vsprintf, strcpy, strcat, strtok, atoi, atol, gets)
  in ward's C code (tests may use what they like).
- Rule 2: only lib/crypto/ includes OpenSSL (tests, fuzz targets and benchmarks aside).
- Rule 10: every .c file of the programs and the library opens with a header essay.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
CODE_DIRS = ["lib", "include", "cli", "server", "agent", "bench", "fuzz"]
BANNED = re.compile(r"\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets)\s*\(")
OPENSSL = re.compile(r"#\s*include\s*<openssl/")


def sources():
    for d in CODE_DIRS:
        for p in sorted((REPO / d).rglob("*.[ch]")):
            yield p


def strip_comments_and_strings(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


def test_no_banned_functions():
    bad = []
    for p in sources():
        code = strip_comments_and_strings(p.read_text(errors="replace"))
        for n, line in enumerate(code.splitlines(), 1):
            if BANNED.search(line) and not re.search(r"\b(ward_|srv_|cli_|agent_)\w*sprintf", line):
                bad.append(f"{p.relative_to(REPO)}: {line.strip()}")
    assert not bad, "banned functions (STYLE.md 7):\n" + "\n".join(bad)


def test_openssl_only_in_lib_crypto():
    bad = [str(p.relative_to(REPO)) for p in sources()
           if OPENSSL.search(p.read_text(errors="replace"))
           and not str(p.relative_to(REPO)).startswith(("lib/crypto/", "fuzz/", "bench/"))]
    assert not bad, "OpenSSL included outside lib/crypto/ (STYLE.md 2): " + ", ".join(bad)


def test_every_c_file_opens_with_an_essay():
    bad = [str(p.relative_to(REPO)) for p in sources()
           if p.suffix == ".c" and not p.read_text(errors="replace").lstrip().startswith("/*")]
    assert not bad, "C files without a header essay (STYLE.md 10): " + ", ".join(bad)
