"""A grid of policy settings over one fleet: `--sweep lead_days=14,21 --sweep
pull_forward_days=0,7,10` runs the policy once per combination, each run exactly the run a
fleet file with those settings would give.

The settings a sweep may vary are the fleet file's policy keys (every top-level key but the
ones that describe the world: start, days, seed, shipping_days, sites), so a setting the
fleet file learns is sweepable without a change here; under `--policy threshold`, the
baseline's one setting, `threshold_pct`. Values are checked by the fleet schema itself, so a
sweep accepts what the file would and refuses it with the same words.

Combinations never meet: each is a whole run, so with `jobs` > 1 they run in worker
processes, one combination each; a grid smaller than `jobs` instead runs its combinations
in turn, each sharing its sites among the workers (asr_central.simulate.loop).
"""

from __future__ import annotations

import concurrent.futures
import itertools
import math
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from asr_core.errors import ConfigError
from asr_central.simulate.fleet import Fleet
from asr_central.simulate.loop import _context, simulate
from asr_central.simulate.report import summarize

Value = int | float | str
FLAG = "--sweep"
# fleet keys that describe the simulated world rather than the policy run over it
WORLD_KEYS = frozenset({"start", "days", "seed", "shipping_days", "sites"})
THRESHOLD = "threshold_pct"
# past this a grid is a typing slip more likely than a plan, and its chart unreadable
MAX_COMBINATIONS = 256


@dataclass(frozen=True, slots=True)
class Axis:
    """One `--sweep NAME=V1,V2,…`: a setting and the values it takes, in the order given."""

    name: str
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Combination:
    """One cell of the grid: its settings, and the fleet and threshold that carry them."""

    settings: tuple[tuple[str, Value], ...]
    fleet: Fleet
    threshold_pct: float


@dataclass(frozen=True, slots=True)
class Point:
    """The outcome of one combination: the run's summary (report.summarize) and the devices
    that ran out of stock, as (serial, site id, supply-days out)."""

    settings: tuple[tuple[str, Value], ...]
    summary: dict[str, Any]
    ran_out: tuple[tuple[str, str, float], ...]


def sweepable(policy: str) -> tuple[str, ...]:
    """The settings `--sweep` may vary under `policy`."""
    if policy == "threshold":
        return (THRESHOLD,)
    return tuple(sorted(set(Fleet.model_fields) - WORLD_KEYS))


def _parse_value(text: str) -> Value:
    """A number if it reads as one (the schema decides whether it may be), else the text."""
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            return text  # "nan" and "inf" are no number of days or percent
        return value
    return text


def parse_axis(text: str, policy: str) -> Axis:
    """`NAME=V1,V2,…` as an Axis; ConfigError naming the flag for anything else."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    allowed = sweepable(policy)
    if not sep or not name:
        raise ConfigError(f"{text!r}: expected NAME=VALUE,VALUE,… (e.g. lead_days=14,21); "
                          f"settings: {', '.join(allowed)}", key=FLAG)
    if name not in allowed:
        if policy == "threshold" and name in sweepable("asr"):
            why = (f"{name} is a setting of the asr policy, which --policy threshold does not "
                   f"run; sweep {THRESHOLD}, or drop --policy threshold")
        elif policy != "threshold" and name == THRESHOLD:
            why = f"{THRESHOLD} is the threshold baseline's: add --policy threshold"
        else:
            why = f"unknown setting {name!r}; the {policy} policy's: {', '.join(allowed)}"
        raise ConfigError(why, key=FLAG)
    texts = [v.strip() for v in rest.split(",")]
    if any(not t for t in texts):
        raise ConfigError(f"{text!r}: an empty value; give values separated by commas "
                          f"(e.g. {name}=14,21)", key=FLAG)
    values: list[Value] = []
    for t in texts:
        value = _parse_value(t)
        if value in values:
            raise ConfigError(f"{name}={t} is given twice", key=FLAG)
        values.append(value)
    return Axis(name, tuple(values))


def _check_threshold(value: Value) -> float:
    if isinstance(value, str) or not 0 <= value <= 100:
        raise ConfigError(f"{THRESHOLD}={value}: expected a percent from 0 to 100", key=FLAG)
    return float(value)


def _with(fleet: Fleet, name: str, value: Value) -> Fleet:
    """`fleet` with one policy key set, validated as the fleet file's key would be."""
    try:
        return Fleet.model_validate({**dict(fleet), name: value})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"{name}={value}: {err['msg']} (as in the fleet file: see "
                          "docs/fleet-format.md)", key=FLAG) from None


def grid(fleet: Fleet, axes: list[Axis], *, threshold_pct: float = 20.0) -> list[Combination]:
    """Every combination of the axes' values, the first axis varying slowest, each checked
    before anything runs, so a bad value costs no simulation."""
    names = [a.name for a in axes]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{name} is swept twice; give all its values in one "
                              f"{FLAG} {name}=…", key=FLAG)
    count = math.prod(len(a.values) for a in axes)
    if count > MAX_COMBINATIONS:
        raise ConfigError(f"{count} combinations; at most {MAX_COMBINATIONS} run in one "
                          "sweep: give fewer values", key=FLAG)
    # each value checked once on its own, so the error names the first bad one
    for axis in axes:
        for value in axis.values:
            if axis.name == THRESHOLD:
                _check_threshold(value)
            else:
                _with(fleet, axis.name, value)
    out = []
    for values in itertools.product(*(a.values for a in axes)):
        settings = tuple(zip(names, values, strict=True))
        cell, pct = fleet, threshold_pct
        for name, value in settings:
            if name == THRESHOLD:
                pct = _check_threshold(value)
            else:
                cell = _with(cell, name, value)
        out.append(Combination(settings, cell, pct))
    return out


def run_combination(combo: Combination, policy: str, jobs: int = 1) -> Point:
    result = simulate(combo.fleet, policy, threshold_pct=combo.threshold_pct, jobs=jobs)
    ran_out = tuple(
        (d.serial, d.site.id, round(days, 3)) for d in result.devices
        if (days := sum(s.stockout_days for s in d.supplies.values())) > 0)
    return Point(combo.settings, summarize(result), ran_out)


def run_grid(combos: list[Combination], policy: str, *, jobs: int = 1) -> list[Point]:
    """The points of `combos`, in their order; the same for any `jobs` (module docstring)."""
    if jobs < 1:
        raise ValueError(f"jobs {jobs}: expected at least 1")
    if jobs == 1 or len(combos) < jobs:
        return [run_combination(c, policy, jobs) for c in combos]
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=_context()) as pool:
        return list(pool.map(run_combination, combos, [policy] * len(combos)))  # jobs=1 each


def label(settings: tuple[tuple[str, Value], ...]) -> str:
    """`lead_days=14 pull_forward_days=7`: how a combination is named in tables and charts."""
    return " ".join(f"{name}={format_value(value)}" for name, value in settings)


def format_value(value: Value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


__all__ = ["Axis", "Combination", "MAX_COMBINATIONS", "Point", "grid", "label", "parse_axis",
           "run_combination", "run_grid", "sweepable"]
