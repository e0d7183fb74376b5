"""Movie titles: MovieLens's "Matrix, The (1999)" form, display form and search form."""

from __future__ import annotations

import re
import unicodedata

# Articles that MovieLens moves to the end ("Matrix, The"), in the languages it uses.
_ARTICLES = (
    "The|A|An|Les|La|Le|L'|Il|Lo|Gli|I|Das|Der|Die|Ein|Eine|El|Los|Las|Un|Una|Une|Det|Den|De|Het"
)
_TRAILING_ARTICLE = re.compile(rf"^(?P<main>.+?), (?P<article>{_ARTICLES})(?P<rest>\s*\(.*\))?$")
_YEAR = re.compile(r"\s*\((?P<year>\d{4})(?:[-–]\d{0,4})?\)\s*$")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def split_title(raw: str) -> tuple[str, int | None]:
    """``"Matrix, The (1999)"`` -> ``("The Matrix", 1999)``.

    A title without a year keeps ``None``; alternate titles in parentheses
    stay ("The City of Lost Children (Cité des enfants perdus, La)").
    """
    text = " ".join(raw.strip().split())
    year: int | None = None
    match = _YEAR.search(text)
    if match:
        year = int(match.group("year"))
        text = text[: match.start()].rstrip()
    match = _TRAILING_ARTICLE.match(text)
    if match:
        article = match.group("article")
        sep = "" if article.endswith("'") else " "
        text = f"{article}{sep}{match.group('main')}{match.group('rest') or ''}"
    return text, year


def normalize(text: str) -> str:
    """Search form: accents stripped, lower case, punctuation as single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", stripped.casefold()).strip()


_LEADING_ARTICLE = re.compile(r"^(the|a|an) ")


def without_article(normalized: str) -> str:
    """``"the matrix"`` -> ``"matrix"``, so both spellings find the film."""
    return _LEADING_ARTICLE.sub("", normalized)


def parse_query(text: str) -> tuple[str, int | None]:
    """A typed title, optionally with its year: ``"Toy Story (1995)"`` or ``"Matrix, The"``."""
    title, year = split_title(text)
    return normalize(title), year


def label(title: str, year: int | None, limit: int = 100) -> str:
    """``"Title (Year)"`` cut to ``limit`` characters (Discord's choice-name limit)."""
    suffix = f" ({year})" if year else ""
    if len(title) + len(suffix) <= limit:
        return title + suffix
    return title[: limit - len(suffix) - 1] + "…" + suffix
