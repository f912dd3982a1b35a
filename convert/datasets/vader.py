"""Human-rated sentiment snippets from the VADER paper (Hutto & Gilbert, ICWSM 2014).

The data ships inside the vaderSentiment *source* archive on PyPI
(``vaderSentiment-3.3.2.tar.gz``, MIT licence), nested as
``additional_resources/hutto_ICWSM_2014.tar.gz``. Each ``*_GroundTruth.txt``
line is ``id<TAB>mean rating<TAB>text``; ratings are the mean of about 20
human raters on a -4..+4 scale.

Labels are binary: rating > 0 is positive (1), < 0 negative (0), exactly 0 is
dropped. HTML entities left in the text (``&amp;``, ``&lt;``) are decoded so
the snippets read as a user would type them.

Splits are deterministic and independent of Python's hash seed: a snippet's
bucket comes from SHA-256 of ``domain/id``, 70 % train, 10 % calibration, 20 %
held-out test, within each domain.
"""

from __future__ import annotations

import hashlib
import html
import io
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from convert.errors import ConversionError

VERSION = "3.3.2"
ARCHIVE = f"vaderSentiment-{VERSION}.tar.gz"
INNER_ARCHIVE = f"vaderSentiment-{VERSION}/additional_resources/hutto_ICWSM_2014.tar.gz"
DOMAINS: dict[str, str] = {
    "movies": "movieReviewSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}
SPLITS: dict[str, tuple[float, float]] = {  # name -> [low, high) of the hash fraction
    "train": (0.0, 0.7),
    "calibration": (0.7, 0.8),
    "test": (0.8, 1.0),
}
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "packages"
NEGATIVE, POSITIVE = 0, 1


@dataclass(frozen=True)
class Snippet:
    """One human-rated snippet; ``label`` is 1 (positive) or 0 (negative)."""

    id: str
    text: str
    rating: float
    domain: str

    @property
    def label(self) -> int:
        return POSITIVE if self.rating > 0 else NEGATIVE


def cache_dir() -> Path:
    """Where source archives live: ``$BROWSERML_CACHE`` or ``<repo>/.cache/packages``."""
    return Path(os.environ.get("BROWSERML_CACHE") or DEFAULT_CACHE)


def source_archive(cache: Path | None = None) -> Path:
    """The vaderSentiment source archive, downloaded with pip into ``cache`` if absent."""
    cache = cache or cache_dir()
    path = cache / ARCHIVE
    if path.is_file():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        f"vaderSentiment=={VERSION}",
        "-d",
        str(cache),
    ]
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    if result.returncode != 0 or not path.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise ConversionError(
            f"could not download the VADER ground truth ({ARCHIVE}) into {cache}: "
            f"`{' '.join(command[2:])}` failed: {' | '.join(tail) or 'no output'}. "
            f"Download it by hand into that folder (or set BROWSERML_CACHE)."
        )
    return path


def decode(raw: bytes) -> str:
    """Text of a ground-truth file: UTF-8 (with or without BOM), else Windows-1252, else Latin-1."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


@lru_cache(maxsize=1)
def _ground_truth(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as outer:
        member = outer.extractfile(INNER_ARCHIVE)
        if member is None:
            raise ConversionError(f"{archive} has no {INNER_ARCHIVE}")
        inner_bytes = member.read()
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        for info in inner.getmembers():
            name = Path(info.name).name
            if name in DOMAINS.values():
                handle = inner.extractfile(info)
                if handle is None:
                    raise ConversionError(f"{archive}: {info.name} is not a regular file")
                files[name] = handle.read()
    return files


def parse(text: str, domain: str) -> list[Snippet]:
    """Parse ``id<TAB>rating<TAB>text`` lines, keeping only non-zero ratings."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise ConversionError(
                f"{DOMAINS[domain]} line {number}: expected id<TAB>rating<TAB>text"
            )
        ident, rating, body = parts
        value = float(rating)
        if value != 0.0:
            out.append(Snippet(ident.strip(), html.unescape(body.strip()), value, domain))
    return out


def snippets(domain: str, cache: Path | None = None) -> list[Snippet]:
    """All labelled snippets of ``domain`` (one of DOMAINS), in file order."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown VADER domain {domain!r}; known: {', '.join(DOMAINS)}")
    files = _ground_truth(source_archive(cache).resolve())
    if DOMAINS[domain] not in files:
        raise ConversionError(f"the VADER archive has no {DOMAINS[domain]}")
    return parse(decode(files[DOMAINS[domain]]), domain)


def split_of(snippet: Snippet) -> str:
    """``train``, ``calibration`` or ``test``, from a hash of ``domain/id`` (stable everywhere)."""
    digest = hashlib.sha256(f"{snippet.domain}/{snippet.id}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return next(name for name, (low, high) in SPLITS.items() if low <= fraction < high)


def split(domain: str, name: str, cache: Path | None = None) -> list[Snippet]:
    """The snippets of ``domain`` in split ``name`` (train / calibration / test)."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; known: {', '.join(SPLITS)}")
    return [s for s in snippets(domain, cache) if split_of(s) == name]


# How many calibration snippets feed quantisation: dynamic int8 needs none, and
# evaluation of an embedder gains little beyond a few hundred per domain.
CALIBRATION_PER_DOMAIN = 100


def samples(split_name: str) -> list:
    """Pipeline samples: calibration = the calibration split (all domains, capped);
    evaluation = the held-out test split of movies and tweets, with human labels."""
    from convert.datasets import Sample

    labels = ("negative", "positive")
    if split_name == "calibration":
        rows = [(d, s) for d in DOMAINS for s in split(d, "calibration")[:CALIBRATION_PER_DOMAIN]]
    else:
        rows = [(d, s) for d in ("movies", "tweets") for s in split(d, "test")]
    return [
        Sample(id=f"{d}/{i}", input=s.text, group=d, truth={"label": labels[s.label], "rating": s.rating})
        for i, (d, s) in enumerate(rows)
    ]
