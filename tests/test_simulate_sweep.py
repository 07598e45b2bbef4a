"""`asr-central simulate FLEET --sweep …`: the grid's table against single runs with the same
settings, refused sweeps, and the HTML chart as headless Chromium shows it."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from asr_core.errors import ConfigError
from asr_central.cli import main as central_main
from asr_central.simulate.fleet import parse_fleet
from asr_central.simulate.sweep import Point, grid, parse_axis, sweepable
from asr_central.simulate.sweep_report import COLUMNS, render_sweep_html, render_sweep_table
from tests.conftest import require, require_executable

# Two sites, each report mode that orders differently, stock low enough to order from day one.
FLEET = """\
start: 2027-01-04
days: 120
seed: 5
shipping_days: [2, 6]
sites:
  - id: north
    contact: ops@north.example
    devices:
      - serial: N-1
        supplies:
          - {id: black, type: toner, color: black, part_number: K-250, capacity_g: 250, level_pct: 45}
          - {id: cyan, type: toner, color: cyan, part_number: C-200, capacity_g: 200, level_pct: 70}
        usage: {grams_per_day: {black: 7, cyan: 3}, noise: 0.3}
      - serial: N-2
        report: coarse
        supplies:
          - {id: black, type: toner, color: black, part_number: K-250, capacity_g: 250, level_pct: 100}
        usage: {grams_per_day: {black: 5}}
  - id: south
    contact: ops@south.example
    devices:
      - serial: S-1
        supplies:
          - {id: black, type: toner, color: black, part_number: K-250, capacity_g: 250, level_pct: 30}
          - {id: waste, type: waste_toner, part_number: W-300, capacity_g: 300, level_pct: 50}
        usage: {grams_per_day: {black: 9}}
"""
GRID = ["--sweep", "lead_days=7,21", "--sweep", "pull_forward_days=0,10"]
CELLS = [(7, 0), (7, 10), (21, 0), (21, 10)]


def _fleet(tmp_path: Path, text: str = FLEET, name: str = "fleet.yaml", **settings: Any) -> str:
    data = yaml.safe_load(text)
    data.update(settings)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def _single(tmp_path: Path, capsys, policy: str = "asr", **settings: Any) -> dict[str, Any]:
    """The summary of one plain run of the fleet file with these settings written into it."""
    pct = settings.pop("threshold_pct", None)  # a flag, not a fleet key
    extra = [] if pct is None else ["--threshold-pct", str(pct)]
    path = _fleet(tmp_path, name="single.yaml", **settings)
    assert central_main(["simulate", path, "--policy", policy, "--json", "--jobs", "1"]
                        + extra) == 0
    return json.loads(capsys.readouterr().out)


def _table_rows(out: str, names: list[str]) -> list[list[str]]:
    lines = out.splitlines()
    head = lines.index(next(line for line in lines if line.split()[:len(names)] == names))
    rows = []
    for line in lines[head + 1:]:
        if not re.match(r"^\s*\d", line):
            break
        rows.append(line.split())
    return rows


def test_the_table_of_a_two_by_two_grid_has_the_figures_of_single_runs_with_those_settings(
        tmp_path, capsys) -> None:
    from asr_central.simulate.report import _fmt

    path = _fleet(tmp_path)
    assert central_main(["simulate", path, *GRID, "--jobs", "2"]) == 0
    rows = _table_rows(capsys.readouterr().out, ["lead_days", "pull_forward_days"])
    assert [(int(r[0]), int(r[1])) for r in rows] == CELLS
    singles = [_single(tmp_path, capsys, lead_days=lead, pull_forward_days=pull)
               for lead, pull in CELLS]
    for row, single in zip(rows, singles, strict=True):
        assert row[2:] == [_fmt(single[key]) for key, _heading in COLUMNS]
    # the settings reach the policy: the grid's cells differ in stock and parcels
    assert len({(s["mean_units_on_hand"], s["shipments"]) for s in singles}) == 4


def test_the_json_of_a_sweep_is_each_single_runs_json_with_its_settings(tmp_path, capsys) -> None:
    path = _fleet(tmp_path)
    assert central_main(["simulate", path, *GRID, "--json", "--jobs", "1"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r.pop("settings") for r in runs] == [
        {"lead_days": lead, "pull_forward_days": pull} for lead, pull in CELLS]
    assert runs == [_single(tmp_path, capsys, lead_days=lead, pull_forward_days=pull)
                    for lead, pull in CELLS]


def test_a_threshold_sweep_runs_the_baseline_at_each_threshold(tmp_path, capsys) -> None:
    path = _fleet(tmp_path)
    assert central_main(["simulate", path, "--policy", "threshold", "--json",
                         "--sweep", "threshold_pct=10,40"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r.pop("settings") for r in runs] == [{"threshold_pct": 10}, {"threshold_pct": 40}]
    assert runs == [_single(tmp_path, capsys, "threshold", threshold_pct=pct) for pct in (10, 40)]
    assert runs[0]["mean_units_on_hand"] < runs[1]["mean_units_on_hand"]


@pytest.mark.parametrize(("sweep", "policy", "says"), [
    (["lead_day=14,21"], "asr", "unknown setting 'lead_day'"),
    (["lead_days=14,x"], "asr", "lead_days=x: Input should be a valid integer"),
    (["lead_days=-1"], "asr", "lead_days=-1: Input should be greater than or equal to 0"),
    (["pull_forward_days=nan"], "asr", "pull_forward_days=nan"),
    (["lead_days"], "asr", "expected NAME=VALUE,VALUE"),
    (["lead_days=14,,21"], "asr", "an empty value"),
    (["lead_days=14,14"], "asr", "lead_days=14 is given twice"),
    (["lead_days=14", "lead_days=21"], "asr", "lead_days is swept twice"),
    (["seed=1,2"], "asr", "unknown setting 'seed'"),
    (["threshold_pct=10"], "asr", "add --policy threshold"),
    (["lead_days=14"], "threshold", "--policy threshold does not run"),
    (["threshold_pct=10,120"], "threshold", "threshold_pct=120: expected a percent"),
    (["lead_days=" + ",".join(map(str, range(17))), "supply_days=" + ",".join(
        map(str, range(1, 17)))], "asr", "272 combinations; at most 256"),
])
def test_a_bad_sweep_is_refused_naming_the_flag_before_anything_runs(
        tmp_path, capsys, sweep: list[str], policy: str, says: str) -> None:
    path = _fleet(tmp_path)
    report = tmp_path / "chart.html"
    args = ["simulate", path, "--policy", policy, "--html", str(report)]
    for s in sweep:
        args += ["--sweep", s]
    assert central_main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and not report.exists()  # nothing ran, nothing written
    assert "--sweep: " in captured.err and says in captured.err


def test_a_threshold_given_twice_is_refused(tmp_path, capsys) -> None:
    assert central_main(["simulate", _fleet(tmp_path), "--policy", "threshold",
                         "--threshold-pct", "20", "--sweep", "threshold_pct=10,30"]) == 2
    assert "--threshold-pct and --sweep threshold_pct" in capsys.readouterr().err


HOSTILE_SERIAL = "<script>window.pwned = 1</script>"
HOSTILE_SITE = "<img src=x onerror=\"window.pwned = 2\">"


@pytest.mark.browser
@pytest.mark.trust
def test_the_sweep_chart_shows_a_labelled_point_per_combination_and_runs_nothing(
        tmp_path, capsys) -> None:
    chromium = require_executable("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        require(False, "playwright is not installed")
    from tests.test_status_browser import CHROMIUM_ARGS, artifact

    # a printer and a site named to attack the page, nearly empty: it runs out in every cell
    data = yaml.safe_load(FLEET)
    data["sites"][1]["id"] = HOSTILE_SITE
    device = data["sites"][1]["devices"][0]
    device["serial"] = HOSTILE_SERIAL
    device["supplies"][0]["level_pct"] = 1
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    report = tmp_path / "chart.html"
    assert central_main(["simulate", str(path), *GRID, "--html", str(report)]) == 0
    capsys.readouterr()
    page_html = report.read_text(encoding="utf-8")
    assert "<script" not in page_html and "<img" not in page_html

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.set_content(page_html, wait_until="load")
            assert requests == []  # no external asset
            assert page.evaluate("typeof window.pwned") == "undefined"
            assert page.locator("script, img, iframe, object, foreignObject").count() == 0
            points = page.locator("svg.sweep circle.point")
            assert points.count() == len(CELLS)
            assert all(points.nth(i).is_visible() for i in range(len(CELLS)))
            labels = page.locator("svg.sweep text.label")
            assert [labels.nth(i).text_content() for i in range(labels.count())] == [
                f"{lead} / {pull}" for lead, pull in CELLS]
            # every cell ran out at the hostile printer: drawn red, named as text in its tooltip
            assert page.locator("svg.sweep circle.point.out").count() == len(CELLS)
            tip = points.first.locator("title").text_content() or ""
            assert f"ran out: {HOSTILE_SERIAL} at {HOSTILE_SITE}" in tip
            page.screenshot(path=str(artifact("simulate-sweep.png")), full_page=True)
            # labels of distinct points do not sit on one another
            boxes = [labels.nth(i).bounding_box() for i in range(labels.count())]
            for i, a in enumerate(boxes):
                for b in boxes[i + 1:]:
                    assert a is not None and b is not None
                    assert (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                            or a["y"] + a["height"] <= b["y"] + 1
                            or b["y"] + b["height"] <= a["y"] + 1)
        finally:
            browser.close()


_NAMES = st.sampled_from(("lead_days", "supply_days", "pull_forward_days", "threshold_pct",
                          "seed", "sites"))
_VALUES = st.lists(st.one_of(st.integers().map(str), st.floats().map(repr), st.text()),
                   min_size=1, max_size=4).map(",".join)
SWEEP_TEXT = st.one_of(st.text(), st.builds("{}={}".format, _NAMES, _VALUES))


@settings(max_examples=300, deadline=None)
@given(text=SWEEP_TEXT, policy=st.sampled_from(("asr", "threshold")))
def test_any_sweep_text_gives_a_grid_or_an_error_naming_the_flag(text: str, policy: str) -> None:
    fleet = parse_fleet(FLEET)
    try:
        combos = grid(fleet, [parse_axis(text, policy)])
    except ConfigError as exc:
        assert exc.key == "--sweep" and str(exc).startswith("--sweep: ")
        return
    name = text.partition("=")[0].strip()
    assert name in sweepable(policy)
    for combo in combos:
        ((swept, value),) = combo.settings
        assert swept == name
        if name != "threshold_pct":
            assert getattr(combo.fleet, name) == value  # the value reaches the fleet as given
            assert combo.fleet.sites == fleet.sites


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.handlers: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "p", "ul", "li", "strong",
             "table", "tr", "th", "td", "svg", "rect", "line", "text", "circle"}


@pytest.mark.trust
@settings(max_examples=200, deadline=None)
@given(serial=st.text(min_size=1), site=st.text(min_size=1), value=st.text(min_size=1))
def test_any_printer_site_or_setting_string_stays_text_on_the_sweep_page(
        serial: str, site: str, value: str) -> None:
    summary = {"policy": "asr", "devices": 1, "supplies": 1, "days": 10, "start": "2027-01-04",
               "seed": 0, "not_integrated": [], **{key: 1 for key, _h in COLUMNS}}
    points = [Point((("order_point", value), ("lead_days", 14)), summary,
                    ((serial, site, 1.5),)),
              Point((("order_point", value), ("lead_days", 21)),
                    {**summary, "stockout_supply_days": 0, "shipments": 3}, ())]
    parser = _Page()
    parser.feed(render_sweep_html(points))
    parser.close()
    assert parser.tags <= PAGE_TAGS and parser.handlers == []
    text = "".join(parser.text)
    assert f"ran out: {serial} at {site}, 1.5 supply-days" in text
    assert f"{value} / 14" in text and f"{value} / 21" in text
    assert f"with no stockout: order_point={value} lead_days=21 (" in render_sweep_table(points)
