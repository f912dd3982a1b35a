"""VADER human-rated snippets: all four domains load, labels are binary, splits are stable."""

from __future__ import annotations

import pytest

from convert.datasets import vader


@pytest.mark.parametrize("domain", list(vader.DOMAINS))
def test_domain_loads_with_binary_labels(domain):
    rows = vader.snippets(domain)
    assert len(rows) > 3000
    assert {r.label for r in rows} == {0, 1}
    assert all(r.rating != 0 for r in rows)
    assert all((r.label == 1) == (r.rating > 0) for r in rows)
    assert all(r.text and "\t" not in r.text for r in rows)
    assert len({r.id for r in rows}) == len(rows)


@pytest.mark.parametrize("domain", list(vader.DOMAINS))
def test_splits_are_disjoint_and_cover_the_domain(domain):
    parts = {name: vader.split(domain, name) for name in vader.SPLITS}
    ids = {name: {r.id for r in rows} for name, rows in parts.items()}
    assert not ids["train"] & ids["calibration"]
    assert not ids["train"] & ids["test"]
    assert not ids["calibration"] & ids["test"]
    assert sum(len(rows) for rows in parts.values()) == len(vader.snippets(domain))
    total = len(vader.snippets(domain))
    assert 0.65 < len(parts["train"]) / total < 0.75
    assert 0.15 < len(parts["test"]) / total < 0.25


def test_split_is_a_pure_function_of_domain_and_id():
    row = vader.snippets("tweets")[0]
    same = vader.Snippet(id=row.id, text="different text", rating=-1.0, domain="tweets")
    assert vader.split_of(row) == vader.split_of(same)
    assert [vader.split_of(r) for r in vader.snippets("movies")[:50]] == [
        vader.split_of(r) for r in vader.snippets("movies")[:50]
    ]


def test_known_snippets_and_entities():
    movies = vader.snippets("movies")
    assert movies[0].id == "1" and movies[0].text.startswith("The Rock is destined")
    assert movies[0].rating == pytest.approx(2.26666666667) and movies[0].label == 1
    tweets = vader.snippets("tweets")
    assert not any("&amp;" in r.text for r in tweets)


def test_decode_falls_back_to_windows_1252():
    assert vader.decode("café".encode()) == "café"
    assert vader.decode("café “quoted”".encode("cp1252")) == "café “quoted”"
    assert vader.decode(b"\x81") == "\x81"  # undefined in cp1252: Latin-1 keeps the byte


def test_parse_drops_neutral_ratings():
    rows = vader.parse("1\t0.5\tgood\n2\t0\tmeh\n3\t-1.25\tbad &amp; worse\n", "movies")
    assert [(r.id, r.label, r.text) for r in rows] == [("1", 1, "good"), ("3", 0, "bad & worse")]


def test_unknown_domain_and_split_are_named():
    with pytest.raises(ValueError, match="movies"):
        vader.snippets("reddit")
    with pytest.raises(ValueError, match="calibration"):
        vader.split("movies", "dev")
