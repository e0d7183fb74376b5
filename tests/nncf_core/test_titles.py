import pytest

from nncf_core.titles import label, normalize, parse_query, split_title


@pytest.mark.parametrize(
    ("raw", "title", "year"),
    [
        ("Matrix, The (1999)", "The Matrix", 1999),
        ("Toy Story (1995)", "Toy Story", 1995),
        (
            "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)",
            "Amelie (Fabuleux destin d'Amélie Poulain, Le)",
            2001,
        ),
        (
            "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
            "The City of Lost Children (Cité des enfants perdus, La)",
            1995,
        ),
        ("Babylon 5", "Babylon 5", None),
        ("Stranger Things (2016-)", "Stranger Things", 2016),
        ("  Heat   (1995) ", "Heat", 1995),
    ],
)
def test_split_title(raw: str, title: str, year: int | None) -> None:
    assert split_title(raw) == (title, year)


def test_normalize_strips_accents_case_and_punctuation() -> None:
    assert normalize("Amélie: Le Fabuleux!") == "amelie le fabuleux"
    assert parse_query("Matrix, The (1999)") == ("the matrix", 1999)


def test_label_fits_discord_limit() -> None:
    text = label("x" * 300, 1999)
    assert len(text) == 100 and text.endswith("… (1999)")
