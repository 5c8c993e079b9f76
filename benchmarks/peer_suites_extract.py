"""Extract the public peer test suites into ``benchmarks/data/peer_suites.json``.

    .venv/bin/python -m benchmarks.peer_suites_extract [--check]

Reads the transcripts in ``benchmarks/data/peer_sources/`` (never the network: each transcript
was copied from the public repository at the commit its header names, and says exactly what it
keeps of the file) and writes one case per test input, in our entity names:

- **Microsoft Presidio** (MIT): the recognizer test tables (``test_*_recognizer.py``), the
  context sentences of its test data, the analyzer's e2e texts;
- **presidio-research** (MIT): ``tests/data/generated_small.json`` and the first 132 samples of
  ``tests/data/generated_large.json``, template-generated samples whose every PII value is
  labeled (so what is outside the labels must stay);
- **scrubadub** (Apache-2.0): the BEFORE/AFTER docstrings and tables of its detector tests, and
  its labeled example document;
- **DataFog** (MIT): the ``tests/corpus/*.json`` cases (structured, unstructured, mixed, negatives).

A case is a text with its expected values (``expected``: start, end, our entity, the peer's
entity, ``in_scope`` = we claim to detect that kind at all) and the entities that must *not* be
found in it (``negative_for``; ``*`` = no PII of any kind we detect). Values of kinds we do not
detect (organisations, places, dates that are not birth dates, other countries' IDs ...) are kept,
marked ``in_scope: false``, so the replay can show what either side does with them.

``--check`` rebuilds in memory and fails when the committed JSON differs (the unit test does the
same). The JSON is the committed artefact; the benchmark reads only it.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "benchmarks" / "data" / "peer_sources"
OUT = ROOT / "benchmarks" / "data" / "peer_suites.json"

#: The entity types our detector produces (``Detector``'s supported entities with the shipped
#: config): a peer value of any other kind is out of scope.
OURS = frozenset(
    [
        "ACCOUNT_NUMBER",
        "AGE",
        "CREDIT_CARD",
        "DATE_OF_BIRTH",
        "EMAIL_ADDRESS",
        "IBAN_CODE",
        "INCOME",
        "IP_ADDRESS",
        "PERSON",
        "PHONE_NUMBER",
        "POSTCODE",
        "STREET_ADDRESS",
        "US_DRIVER_LICENSE",
        "US_PASSPORT",
        "US_SSN",
        "US_ZIP_CODE",
    ]
)

#: Peer entity names -> ours (a name not listed maps to itself).
MAPPING = {
    "EMAIL": "EMAIL_ADDRESS",
    "PHONE": "PHONE_NUMBER",
    "DE_PHONE": "PHONE_NUMBER",
    "SSN": "US_SSN",
    "ZIP_CODE": "US_ZIP_CODE",
    "DE_IBAN": "IBAN_CODE",
    "DE_POSTAL_CODE": "POSTCODE",
    "ADDRESS": "STREET_ADDRESS",
    "DATE": "DATE_TIME",
    "NAME": "PERSON",
    "DOMAIN_NAME": "URL",
}

#: scrubadub placeholders -> ours.
PLACEHOLDERS = {
    "CREDIT_CARD": "CREDIT_CARD",
    "DATE_OF_BIRTH": "DATE_OF_BIRTH",
    "DRIVERS_LICENCE": "GB_DRIVING_LICENCE",
    "EMAIL": "EMAIL_ADDRESS",
    "SSN": "US_SSN",
    "NAME": "PERSON",
    "PHONE": "PHONE_NUMBER",
}

#: DataFog cases without values: the entity each one is a negative control of (from its id or
#: its note); ``*`` = of everything.
DATAFOG_NEGATIVE = {
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "ssn": "US_SSN",
    "cc": "CREDIT_CARD",
    "ip": "IP_ADDRESS",
    "date": "DATE_TIME",
    "zip": "US_ZIP_CODE",
    "isbn-not-ssn": "US_SSN",
    "product-code-not-phone": "PHONE_NUMBER",
    "hex-not-ip": "IP_ADDRESS",
    "order-id-not-zip": "US_ZIP_CODE",
    "version-not-date": "DATE_TIME",
    "time-not-phone": "PHONE_NUMBER",
    "uuid-not-ssn": "US_SSN",
    "math-not-credit-card": "CREDIT_CARD",
    "hostname-not-email": "EMAIL_ADDRESS",
    "markdown-link": "IP_ADDRESS",
    "code-symbol": "EMAIL_ADDRESS",
    "random-digits": "*",
    "ticket-id": "*",
    "date-like-invalid": "DATE_TIME",
    "url-with-at": "EMAIL_ADDRESS",
}


def ours(peer_entity: str) -> str:
    return MAPPING.get(peer_entity, peer_entity)


@dataclass
class Source:
    repo: str
    path: str
    commit: str
    licence: str
    transcript: str


@dataclass
class Case:
    source: int
    ref: str
    text: str
    expected: list[dict[str, Any]] = field(default_factory=list)
    negative_for: list[str] = field(default_factory=list)
    fully_labeled: bool = False
    weak: bool = False

    def add(self, start: int, end: int, peer_entity: str) -> None:
        if not (0 <= start < end <= len(self.text)):
            raise ValueError(f"{self.ref}: span {start}-{end} outside its text of {len(self.text)} characters")
        entity = ours(peer_entity)
        self.expected.append(
            {"start": start, "end": end, "entity": entity, "peer_entity": peer_entity, "in_scope": entity in OURS}
        )

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "ref": self.ref, "text": self.text, "expected": self.expected}
        out["negative_for"] = self.negative_for
        if self.fully_labeled:
            out["fully_labeled"] = True
        if self.weak:
            out["weak"] = True
        return out


# ---- transcript reading -------------------------------------------------------------------
_HEADER = re.compile(r"^# (source|commit|licence): (.*)$")
_ATTR = re.compile(r'(\w+)=("[^"]*"|\S+)')


def _attrs(line: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in _ATTR.findall(line)}


def read_transcript(path: Path) -> tuple[dict[str, str], list[tuple[dict[str, str], str]]]:
    """The header fields and the blocks (attributes, body) of one transcript."""
    header: dict[str, str] = {}
    blocks: list[tuple[dict[str, str], list[str]]] = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.startswith("# block:"):
            blocks.append((_attrs(line[len("# block:") :]), []))
            continue
        if not blocks:
            m = _HEADER.match(line)
            if m:
                header[m.group(1)] = m.group(2).strip()
            continue
        blocks[-1][1].append(line)
    if not blocks:  # a JSON-lines transcript: the whole file after the header is one block
        body = [ln for ln in path.read_text(encoding="utf-8").split("\n") if not ln.startswith("#")]
        blocks.append(({"format": "jsonl"}, body))
    return header, [(a, "\n".join(b)) for a, b in blocks]


def _literal(node: ast.expr) -> Any:
    """``ast.literal_eval`` that also takes an f-string without placeholders (Presidio's tables
    have two)."""
    if isinstance(node, ast.JoinedStr):
        if all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in node.values):
            return "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
        raise ValueError("f-string with placeholders")
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    return ast.literal_eval(node)


def table_rows(body: str) -> list[tuple[Any, ...]]:
    tree = ast.parse("[\n" + body + "\n]", mode="eval")
    assert isinstance(tree.body, ast.List)
    return [_literal(e) for e in tree.body.elts]


# ---- formats ------------------------------------------------------------------------------
def presidio_table(src: int, name: str, attrs: dict[str, str], body: str, n0: int) -> Iterator[Case]:
    fields = attrs["fields"].split(",")
    entity = attrs["entity"]
    for i, row in enumerate(table_rows(body)):
        rec = dict(zip(fields, row, strict=False))
        text, count = str(rec["text"]), int(rec["len"])
        case = Case(src, f"{name}#{n0 + i}", text, weak=attrs.get("weak") == "1")
        positions = [tuple(p) for p in rec.get("pos", ())]
        if count == 0:
            case.negative_for = [ours(entity)]
        elif not positions:  # a count without positions: the whole text is the value
            stripped = text.strip()
            case.add(text.index(stripped), text.index(stripped) + len(stripped), entity)
        else:
            for start, end in positions:
                case.add(int(start), int(end), entity)
        yield case


_VALUE_TOKEN = re.compile(r"[^\s]*[\d*][^\s]*")


def presidio_context(src: int, name: str, body: str) -> Iterator[Case]:
    chunks = [c.strip("\n") for c in body.strip().split("\n\n") if c.strip()]
    for i, chunk in enumerate(chunks):
        entity, sentence = chunk.split("\n", 1)
        tokens = list(_VALUE_TOKEN.finditer(sentence))
        if not tokens:
            raise ValueError(f"{name}#{i}: no value in {sentence!r}")
        first = tokens[0]
        start = first.start() + first.group().rfind(":") + 1  # "is:(425)": the value starts after the colon
        end = tokens[-1].end()
        while sentence[end - 1] in ".,;":
            end -= 1
        case = Case(src, f"{name}#{i}", sentence)
        case.add(start, end, entity.strip())
        yield case


_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def scrubadub_before_after(src: int, name: str, attrs: dict[str, str], body: str) -> Iterator[Case]:
    lines = [ln.strip() for ln in body.split("\n") if ln.strip() and not ln.strip().startswith("#")]
    for i in range(0, len(lines), 2):
        before = lines[i].split(":", 1)[1].strip()
        after = lines[i + 1].split(":", 1)[1].strip()
        case = Case(src, f"{name}#{i // 2}", before)
        kinds = _PLACEHOLDER.findall(after)
        if not kinds:
            if after != before:
                raise ValueError(f"{case.ref}: AFTER differs from BEFORE without a placeholder")
            case.negative_for = [attrs["entity"]]
            yield case
            continue
        # split() alternates literal text and placeholder names: one group a placeholder
        parts = _PLACEHOLDER.split(after)
        pattern = "".join(re.escape(p) if j % 2 == 0 else "(.+?)" for j, p in enumerate(parts))
        m = re.fullmatch(pattern, before, re.DOTALL)
        if m is None:
            raise ValueError(f"{case.ref}: AFTER does not match BEFORE")
        for g, kind in enumerate(kinds, start=1):
            case.add(m.start(g), m.end(g), PLACEHOLDERS.get(kind, kind))
        yield case


def scrubadub_template(src: int, name: str, attrs: dict[str, str], body: str) -> Iterator[Case]:
    template = attrs["template"]
    prefix = template.split("{}")[0]
    for i, (value, positive) in enumerate(table_rows(body)):
        text = template.format(value)
        case = Case(src, f"{name}#{i}", text)
        if positive:
            case.add(len(prefix), len(prefix) + len(value), attrs["entity"])
        else:
            case.negative_for = [attrs["entity"]]
        yield case


def scrubadub_docs(src: int, name: str, attrs: dict[str, str], body: str, n0: int) -> Iterator[Case]:
    tree = ast.parse(textwrap.dedent(body).strip())  # "doc_list = [...]" then "beg_end_list = [...]"
    docs, spans = (ast.literal_eval(stmt.value) for stmt in tree.body if isinstance(stmt, ast.Assign))
    cases = [Case(src, f"{name}#{n0 + i}", d) for i, d in enumerate(docs)]
    for i, (start, end) in enumerate(spans):
        cases[i if len(docs) == len(spans) else 0].add(start, end, attrs["entity"])
    yield from cases


def scrubadub_known_pii(src: int, name: str, body: str) -> Iterator[Case]:
    doc = body.split("----- document.txt\n", 1)[1].split("\n----- known_pii.csv\n", 1)[0]
    rows = body.split("----- known_pii.csv\n", 1)[1].strip().split("\n")[1:]
    kinds = {"address": "STREET_ADDRESS", "phone": "PHONE_NUMBER", "email": "EMAIL_ADDRESS", "name": "PERSON"}
    case = Case(src, f"{name}#0", doc)
    for row in rows:
        kind, match, match_end, _limit = row.split(",")
        start = doc.index(match)
        end = doc.index(match_end, start) + len(match_end) if match_end else start + len(match)
        case.add(start, end, kinds[kind])
    yield case


def datafog(src: int, name: str, body: str) -> Iterator[Case]:
    for line in body.strip().split("\n"):
        item = json.loads(line)
        text, cid = item["input"], item["id"]
        if "???" in text:  # the stored copy lost this text's characters (see the transcript's header)
            continue
        case = Case(src, f"{name}#{cid}", text)
        seen: set[tuple[int, int, str]] = set()
        for e in item["expected_entities"]:
            if text[e["start"] : e["end"]] != e["text"]:
                raise ValueError(f"{case.ref}: {e['type']} span does not hold its text")
            key = (e["start"], e["end"], ours(e["type"]))
            if key not in seen:  # DE_PHONE and PHONE on the same span are one value
                seen.add(key)
                case.add(e["start"], e["end"], e["type"])
        negative = DATAFOG_NEGATIVE.get(cid) or (DATAFOG_NEGATIVE.get(cid.split("-")[0]) if not case.expected else None)
        if name.endswith("negative_cases.json") or not item["expected_entities"]:
            if negative is None:
                raise ValueError(f"{case.ref}: which entity is this a negative control of?")
            case.negative_for = [negative]
        yield case


def presidio_research(src: int, name: str, body: str) -> Iterator[Case]:
    for i, line in enumerate(body.strip().split("\n")):
        item = json.loads(line)
        text = item["text"]
        case = Case(src, f"{name}#{i}", text, fully_labeled=True)
        for kind, start, end, value in item["spans"]:
            if value == "nan":  # a pandas NaN the generator wrote as a state name: no value at all
                continue
            if text[start:end] != value:  # the peer's own offset slip: take the value's nearest place
                places = [m.start() for m in re.finditer(re.escape(value), text)]
                if not places:
                    raise ValueError(f"{case.ref}: {value!r} not in the text")
                start = min(places, key=lambda p: abs(p - start))
                end = start + len(value)
            case.add(start, end, kind)
        if not item["spans"]:
            case.negative_for = ["*"]
        yield case


# ---- driver -------------------------------------------------------------------------------
def extract() -> dict[str, Any]:
    sources: list[Source] = []
    cases: list[Case] = []
    for path in sorted(SOURCES.glob("*")):
        header, blocks = read_transcript(path)
        licence = header["licence"]
        default = ([*header["source"].split(" ", 1), ""])[:2]
        n_before = len(cases)
        for attrs, body in blocks:
            repo, file_path = default[0], attrs.get("path", default[1])
            commit = attrs.get("commit", header.get("commit", "")).split(" ")[0]
            src = next(
                (i for i, s in enumerate(sources) if (s.repo, s.path, s.commit) == (repo, file_path, commit)), None
            )
            if src is None:
                sources.append(Source(repo, file_path, commit, licence, path.name))
                src = len(sources) - 1
            name = f"{repo.split('/')[1]}:{file_path}"
            fmt = attrs["format"]
            n0 = sum(1 for c in cases if c.ref.startswith(name + "#"))
            if fmt == "presidio-table":
                cases.extend(presidio_table(src, name, attrs, body, n0))
            elif fmt == "presidio-context":
                cases.extend(presidio_context(src, name, body))
            elif fmt == "scrubadub-before-after":
                cases.extend(scrubadub_before_after(src, name, attrs, body))
            elif fmt == "scrubadub-template":
                cases.extend(scrubadub_template(src, name, attrs, body))
            elif fmt == "scrubadub-docs":
                cases.extend(c for c in scrubadub_docs(src, name, attrs, body, n0) if c.expected)
            elif fmt == "scrubadub-known-pii":
                cases.extend(scrubadub_known_pii(src, name, body))
            elif fmt == "jsonl" and repo.startswith("DataFog/"):
                cases.extend(datafog(src, name, body))
            elif fmt == "jsonl" and repo == "microsoft/presidio-research":
                cases.extend(presidio_research(src, name, body))
            else:
                raise ValueError(f"{path.name}: unknown block format {fmt!r}")
        if len(cases) == n_before:
            raise ValueError(f"{path.name}: no case extracted")
    refs = Counter(c.ref for c in cases)
    if refs and refs.most_common(1)[0][1] > 1:
        raise ValueError(f"case reference {refs.most_common(1)[0][0]} is not unique")
    return {
        "about": "Public peer test suites replayed by benchmarks/peer_suites.py; made by "
        "`.venv/bin/python -m benchmarks.peer_suites_extract` from benchmarks/data/peer_sources/.",
        "sources": [s.__dict__ for s in sources],
        "cases": [c.as_json() for c in cases],
    }


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help=f"fail when {OUT.name} is not what the transcripts give")
    args = ap.parse_args(argv)
    text = dump(extract())
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print(f"{OUT.relative_to(ROOT)} is {'up to date' if same else 'STALE: run the extraction'}", file=sys.stderr)
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    data = json.loads(text)
    print(f"{len(data['cases'])} cases from {len(data['sources'])} source files -> {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
