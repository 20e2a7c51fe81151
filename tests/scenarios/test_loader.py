"""Scenario files: the bundled ones load; broken ones get one clear message each."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skytwin.errors import ScenarioError
from skytwin.scenarios import bundled_names, load_scenario, parse_scenario
from skytwin.scenarios.loader import resolve

BUNDLED = ["gw_followup", "one_site_night", "six_site_week", "stormy_month"]


def test_bundled_scenarios_are_listed_and_load() -> None:
    assert bundled_names() == BUNDLED
    for name in BUNDLED:
        s = load_scenario(name)
        assert s.name == name
        assert s.sites and all(site.telescopes for site in s.sites)
    six = load_scenario("six_site_week")
    assert len(six.sites) == 6
    lons = sorted(s.longitude_deg for s in six.sites)
    assert max(b - a for a, b in zip(lons, lons[1:] + [lons[0] + 360])) < 120  # spread around the globe


def test_scenarios_are_frozen_and_copied_not_mutated() -> None:
    s = load_scenario("one_site_night")
    with pytest.raises(Exception):
        s.nights = 3  # type: ignore[misc]
    t = s.model_copy(update={"nights": 3})
    assert (s.nights, t.nights) == (1, 3)


def _base() -> dict:
    return yaml.safe_load(resolve("one_site_night")[1])


def _error(data: object, tmp_path: Path) -> str:
    p = tmp_path / "broken.yaml"
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(p)
    msg = str(exc.value)
    assert str(p) in msg
    return msg


def test_missing_field(tmp_path: Path) -> None:
    d = _base()
    del d["sites"][0]["latitude_deg"]
    msg = _error(d, tmp_path)
    assert "sites[0].latitude_deg: missing" in msg


def test_wrong_type(tmp_path: Path) -> None:
    d = _base()
    d["sites"][0]["telescopes"][0]["aperture_m"] = "big"
    msg = _error(d, tmp_path)
    assert "sites[0].telescopes[0].aperture_m: 'big'" in msg and "number" in msg


def test_impossible_coordinates(tmp_path: Path) -> None:
    d = _base()
    d["sites"][0]["latitude_deg"] = 123.0
    msg = _error(d, tmp_path)
    assert "sites[0].latitude_deg: 123.0" in msg and "less than or equal to 90" in msg
    d = _base()
    d["programs"][1]["targets"][0]["dec_deg"] = -91
    assert "programs[1].targets[0].dec_deg: -91" in _error(d, tmp_path)


def test_unknown_site_key(tmp_path: Path) -> None:
    d = _base()
    d["sites"][0]["altitude_m"] = 2000
    msg = _error(d, tmp_path)
    assert "sites[0].altitude_m: unknown key" in msg


def test_cross_reference_errors(tmp_path: Path) -> None:
    d = _base()
    d["faults"] = {"scheduled": [{"site": "nowhere", "type": "mount_stall", "at_h": 1, "duration_h": 1}]}
    assert "unknown site 'nowhere'" in _error(d, tmp_path)
    d = _base()
    d["sites"].append(copy.deepcopy(d["sites"][0]))
    assert "site names must be unique" in _error(d, tmp_path)


def test_empty_file_not_yaml_not_mapping_missing_file(tmp_path: Path) -> None:
    assert "the file is empty" in _error("", tmp_path)
    assert "not valid YAML: line 2" in _error("name: x\n  - : [unclosed\n", tmp_path)
    assert "expected a mapping at the top level, got list" in _error("- 1\n- 2\n", tmp_path)
    with pytest.raises(ScenarioError, match="no such file, and not a bundled scenario"):
        load_scenario(tmp_path / "nope.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ScenarioError, match="not text"):
        load_scenario(tmp_path / "bin.yaml")


# ---------------------------------------------------------------- hypothesis: many broken files

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(d: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out += _paths(v, prefix + (i,))
    return out


_BASE = _base()
_ALL_PATHS = _paths(_BASE)


@st.composite
def broken_documents(draw: st.DrawFn) -> dict:
    d = copy.deepcopy(_BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_ALL_PATHS))
        parent = d
        try:
            for k in path[:-1]:
                parent = parent[k]
            action = draw(st.sampled_from(["delete", "replace", "add"]))
            if action == "delete":
                del parent[path[-1]]
            elif action == "replace":
                parent[path[-1]] = draw(_scalars)
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=8))] = draw(_scalars)
        except (KeyError, IndexError, TypeError):
            pass
    return d


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_documents())
def test_mutated_scenarios_load_or_fail_with_a_scenario_error(doc: dict) -> None:
    text = yaml.safe_dump(doc)
    try:
        parse_scenario(text, "mutated.yaml")
    except ScenarioError as exc:
        msg = str(exc)
        assert msg.startswith("invalid scenario mutated.yaml:")
        assert exc.problems and all(p for p in exc.problems)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_the_loader(text: str) -> None:
    """Anything but a ScenarioError (or a valid scenario) propagates and fails the test."""
    try:
        result = parse_scenario(text, "random.yaml")
    except ScenarioError as exc:
        assert str(exc).startswith("invalid scenario random.yaml:")
    else:
        assert result.sites


def test_scenario_reference_doc_is_current() -> None:
    """docs/scenarios.md is generated from the schema; regenerate it when fields change."""
    import io
    from contextlib import redirect_stdout

    from skytwin.scenarios import doc

    buf = io.StringIO()
    with redirect_stdout(buf):
        doc.main()
    committed = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text()
    assert buf.getvalue() == committed, "run: python -m skytwin.scenarios.doc > docs/scenarios.md"
