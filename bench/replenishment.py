"""Replenishment benchmark: the ASR policy next to the threshold baseline on our own fleets.

    .venv/bin/python bench/replenishment.py            # the fleets + the 1,000-device timing
    .venv/bin/python bench/replenishment.py --jobs 1   # the same in one process
    .venv/bin/python bench/replenishment.py --write-fleets   # regenerate the generated fleets
    .venv/bin/python bench/replenishment.py --noise-only --seeds 300-304   # false-alarm rate
    .venv/bin/python bench/replenishment.py --side-by-side --jobs 2   # the three fleets only
    .venv/bin/python bench/replenishment.py --heavy-coarse --coarse-waste   # those fleets only

Each of the three fleets runs under ASR with each order point (fixed, service), the
"order at 20 %" threshold, and every threshold from 5 to 60 % in steps of 5, of which the
one with no stockout and the least stock on hand is the best in hindsight; the table
prints stockout supply-days, parcels and mean units on hand side by side with the goals
(ASR: zero stockout days, parcels ≤ 0.5× the 20 % policy's, every premature replacement
flagged; in service mode mean units on hand ≤ the best zero-stockout threshold's), then a fleet of coarse-reporting
printers (goal: zero waste stockouts) and two noise-only fleets of 100 printers (noise 0.3
and 0.5, no events; goal: ≤ 0.02 spike alerts per printer-year), then a 1,000-device
365-day fleet is timed (target ≤ 30 s) next to its printers stepped alone. Runs use --jobs worker processes (default
one per CPU, as `asr-central simulate`); the timing line gives wall time and the CPU time of
this process and its workers, since on a shared machine wall time says more about the
neighbours than about the code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
FLEETS = HERE / "fleets"
sys.path.insert(0, str(HERE.parent))

from asr_central.commands.simulate import default_jobs  # noqa: E402
from asr_central.simulate.fleet import load_fleet, parse_fleet  # noqa: E402
from asr_central.simulate.loop import simulate  # noqa: E402
from asr_central.simulate.model import DeviceSim  # noqa: E402
from asr_central.simulate.report import summarize  # noqa: E402

COLOR = [("black", "106R03528", 250.0), ("cyan", "106R03525", 120.0),
         ("magenta", "106R03526", 120.0), ("yellow", "106R03527", 120.0)]
MONO = ("black", "106R03622", 300.0)


def generated_fleet(n_sites: int, devices_per_site: tuple[int, int], *, seed: int,
                    start: str = "2027-01-04", days: int = 365, events: bool = True,
                    noise: float = 0.3) -> dict:
    """A mixed fleet: colour and mono printers, all report modes, spikes and outages
    (`events=False`: none, the printers vary by their daily `noise` alone)."""
    rng = random.Random(seed)
    start_day = dt.date.fromisoformat(start)
    sites = []
    for si in range(n_sites):
        devices = []
        for di in range(rng.randint(*devices_per_site)):
            colour = rng.random() < 0.6
            report = rng.choices(["percent", "tenths_of_grams", "coarse", "some_remaining"],
                                 [0.6, 0.25, 0.1, 0.05])[0]
            # a coarse or -3 printer's starting level is unknowable to any policy (a step or
            # "some remaining" says little), so those start with a fresh unit
            fresh = report in ("coarse", "some_remaining")
            supplies = []
            use = {}
            heavy = rng.random() < 0.1
            for cid, pn, cap in (COLOR if colour else [MONO]):
                level = rng.randint(15, 100)  # drawn either way: the same stream, the same fleet
                supplies.append({"id": cid, "type": "toner", "color": cid, "part_number": pn,
                                 "capacity_g": cap,
                                 "level_pct": 100 if fresh else level})
                base = cap / rng.uniform(40, 120) * (3 if heavy else 1)
                use[cid] = round(base * (1.0 if cid == "black" else 0.6), 2)
            waste_level = rng.randint(20, 100)
            supplies.append({"id": "waste", "type": "waste_toner", "part_number": "008R13061",
                             "capacity_g": 600.0, "level_pct": 100 if fresh else waste_level})
            ev = []
            if events:
                if rng.random() < 0.2:
                    s = start_day + dt.timedelta(days=rng.randint(20, days - 40))
                    ev.append({"type": "spike", "start": s, "days": rng.randint(3, 10),
                               "factor": rng.choice([2, 3, 4])})
                if rng.random() < 0.1:
                    s = start_day + dt.timedelta(days=rng.randint(20, days - 40))
                    ev.append({"type": "offline", "start": s, "days": rng.randint(2, 8)})
                if rng.random() < 0.05:
                    s = start_day + dt.timedelta(days=rng.randint(150, 200))
                    ev.append({"type": "closed", "start": s, "days": 14})
                if rng.random() < 0.1:
                    s = start_day + dt.timedelta(days=rng.randint(60, 300))
                    ev.append({"type": "trend", "start": s, "factor": rng.choice([0.7, 1.3, 1.6])})
            devices.append({
                "serial": f"XRX-{si:03d}-{di:02d}",
                "model": "Xerox VersaLink C405" if colour else "Xerox B410",
                "report": report,
                "replace_at_pct": 15 if rng.random() < 0.05 else 0,
                "supplies": supplies,
                "usage": {"grams_per_day": use, "noise": noise, "waste_ratio": 0.1},
                "events": ev,
            })
        sites.append({"id": f"site-{si:03d}", "contact": f"facilities@site{si:03d}.example",
                      "devices": devices})
    return {"start": start_day, "days": days, "seed": seed, "shipping_days": [2, 5],
            "lead_days": 21, "supply_days": 30, "sites": sites}


def coarse_waste_fleet(n_sites: int = 12, *, seed: int = 77, days: int = 365) -> dict:
    """Printers that report in 25 % steps or only "some remaining", all sharing one waste
    bottle part: colour printers (heavy colour use) beside mono ones, at a waste ratio of
    their own (0.08-0.12 g per gram of toner, around the catalog's 0.1). A bottle rated in
    pages at the fleet's mean is far off for either kind; its fill follows the toner used."""
    rng = random.Random(seed)
    sites = []
    for si in range(n_sites):
        devices = []
        for di in range(rng.randint(2, 4)):
            colour = rng.random() < 0.6
            supplies = []
            use = {}
            scale = rng.uniform(25, 60)
            for cid, pn, cap in (COLOR if colour else [MONO]):
                supplies.append({"id": cid, "type": "toner", "color": cid, "part_number": pn,
                                 "capacity_g": cap, "level_pct": 100})
                use[cid] = round(cap / scale * (1.0 if cid == "black" else rng.uniform(0.6, 1.2)), 2)
            supplies.append({"id": "waste", "type": "waste_toner", "part_number": "008R13061",
                             "capacity_g": 150.0, "level_pct": 100})
            devices.append({
                "serial": f"XRX-CW-{si:02d}-{di}",
                "model": "Xerox VersaLink C405" if colour else "Xerox B410",
                "report": rng.choice(["coarse", "coarse", "some_remaining"]),
                "supplies": supplies,
                "usage": {"grams_per_day": use, "noise": 0.3,
                          "waste_ratio": round(rng.uniform(0.08, 0.12), 3)},
            })
        sites.append({"id": f"cw-{si:02d}", "contact": f"facilities@cw{si:02d}.example",
                      "devices": devices})
    return {"start": dt.date.fromisoformat("2027-01-04"), "days": days, "seed": seed,
            "shipping_days": [2, 5], "lead_days": 21, "supply_days": 30, "sites": sites}


def heavy_coarse_fleet(n_sites: int = 20, *, seed: int = 19, days: int = 240) -> dict:
    """Heavy printers (three times the mixed fleet's use) that report in 25 % steps or only
    "some remaining", a fifth of them swapping toners at 15 % left and a fifth at 30 %,
    spikes and trends, slow shipping. Whether an early swap can be told: a colour lasts as
    many pages as the colours printed beside it leave it, so one always swapped early while
    it says "some remaining" looks like a spent one (counted apart in the table)."""
    rng = random.Random(seed)
    start = dt.date.fromisoformat("2027-01-04")
    sites = []
    for si in range(n_sites):
        devices = []
        for di in range(rng.randint(2, 4)):
            colour = rng.random() < 0.6
            supplies, use = [], {}
            for cid, pn, cap in (COLOR if colour else [MONO]):
                supplies.append({"id": cid, "type": "toner", "color": cid, "part_number": pn,
                                 "capacity_g": cap, "level_pct": 100})
                base = cap / rng.uniform(40, 120) * 3
                use[cid] = round(base * (1.0 if cid == "black" else rng.uniform(0.4, 1.1)), 2)
            supplies.append({"id": "waste", "type": "waste_toner", "part_number": "008R13061",
                             "capacity_g": 600.0, "level_pct": 100})
            ev = []
            if rng.random() < 0.3:
                ev.append({"type": "spike", "start": start + dt.timedelta(days=rng.randint(20, days - 40)),
                           "days": rng.randint(3, 10), "factor": rng.choice([2, 3])})
            if rng.random() < 0.2:
                ev.append({"type": "trend", "start": start + dt.timedelta(days=rng.randint(30, days - 60)),
                           "factor": rng.choice([1.3, 1.6])})
            devices.append({
                "serial": f"XRX-HC-{si:02d}-{di}",
                "model": "Xerox VersaLink C405" if colour else "Xerox B410",
                "report": rng.choice(["coarse", "some_remaining"]),
                "replace_at_pct": rng.choice([0, 0, 0, 15, 30]),
                "supplies": supplies,
                "usage": {"grams_per_day": use, "noise": 0.3, "waste_ratio": 0.1},
                "events": ev,
            })
        sites.append({"id": f"hc-{si:02d}", "contact": f"facilities@hc{si:02d}.example",
                      "devices": devices})
    return {"start": start, "days": days, "seed": seed, "shipping_days": [3, 7],
            "lead_days": 21, "supply_days": 30, "sites": sites}


def _early_swaps(result) -> tuple[int, int, int, int]:
    """Premature replacements and those flagged, then the same for those the printer's
    figures can tell: a coarse reporter's (its steps), or a mono printer's (its pages follow
    its one toner). A colour saying only "some remaining" lasts as many pages as the colours
    printed beside it leave it: always swapped early, it looks like a spent one."""
    total = flagged = tellable = told = 0
    for d in result.devices:
        plain = d.report_mode == "coarse" or len(d.consumables) == 1
        for ins in d.installs:
            if not ins.premature:
                continue
            total += 1
            flagged += ins.flagged
            if plain:
                tellable += 1
                told += ins.flagged
    return total, flagged, tellable, told


def heavy_coarse(jobs: int = 1) -> list[str]:
    """The heavy coarse and "some remaining" fleet: stockouts (goal 0) and premature
    replacements flagged (goal: every one the pages can tell), ASR next to the threshold;
    and false flags, on no early swap (each one an e-mail to a customer who wasted
    nothing)."""
    fleet = parse_fleet(yaml.safe_dump(heavy_coarse_fleet(), sort_keys=False),
                        source="generated heavy coarse-reporting fleet")
    t0 = time.perf_counter()
    asr = simulate(fleet, "asr", jobs=jobs)
    thr = simulate(fleet, "threshold", jobs=jobs)
    a, b = summarize(asr), summarize(thr)
    total, flagged, tellable, told = _early_swaps(asr)
    out = [f"== heavy_coarse: {a['devices']} heavy printers reporting in 25 % steps or \"some "
           f"remaining\", {a['days']} days ({time.perf_counter() - t0:.1f} s)"]
    out += _beside_threshold([(k, a[k], b[k]) for k in ("stockout_supply_days", "stockout_events",
                                                        "shipments", "mean_units_on_hand")])
    out.append(f"premature replacements: {flagged} of {total} flagged; of those the printer "
               f"can tell (coarse steps, or a mono printer's pages): {told} of {tellable}; "
               f"false flags (no early swap): {a['premature_false_flags']}")
    ok = a["stockout_supply_days"] == 0 and told == tellable
    out.append(f"targets: zero stockouts, every tellable premature replacement flagged: "
               f"{'met' if ok else 'MISSED'}")
    return out


def noise_only_fleet(noise: float, *, seed: int = 300) -> dict:
    """100 printers (25 sites of 4), every report mode, no spike, trend or outage: any spike
    alert on them is a false alarm."""
    return generated_fleet(25, (4, 4), seed=seed, events=False, noise=noise)


def write_fleets() -> None:
    header = "# generated by bench/replenishment.py --write-fleets; edit the generator, not this file\n"
    (FLEETS / "fifty_sites.yaml").write_text(
        header + yaml.safe_dump(generated_fleet(50, (1, 6), seed=50), sort_keys=False,
                                default_flow_style=None, width=120), encoding="utf-8")


def fleet_1000() -> str:
    # 200 sites × 5 devices, generated in memory (not stored: it is only timed)
    data = generated_fleet(200, (5, 5), seed=1000)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def model_only(fleet) -> float:
    """Seconds to step the fleet's printers through the year with nothing reading them: the
    floor under any policy's run time, measured in the same process."""
    sims = [DeviceSim(site, spec, seed=fleet.seed, start=fleet.start, days=fleet.days)
            for site, spec in fleet.devices()]
    t0 = time.perf_counter()
    for day in range(fleet.days):
        date = fleet.start + dt.timedelta(days=day)
        for sim in sims:
            sim.morning(day)
            sim.step(day, date)
    return time.perf_counter() - t0


def _beside_threshold(rows: list[tuple[str, float, float]]) -> list[str]:
    """A table of (figure, ASR's, the threshold's), with their ratio for parcels and stock."""
    out = [f"{'':28}{'asr':>12}{'threshold':>12}{'ratio':>8}"]
    for key, x, y in rows:
        ratio = _ratio(x, y) if key in ("shipments", "mean_units_on_hand") else ""
        out.append(f"{key:28}{_cell(x):>12}{_cell(y):>12}{ratio:>8}")
    return out


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else ("1.00" if a == 0 else "inf")


def cpu_seconds() -> float:
    """CPU time of this process and of its finished worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fleet, policy: str, jobs: int) -> tuple[dict, float, float]:
    """Summary, wall seconds and CPU seconds of one run."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    summary = summarize(simulate(fleet, policy, jobs=jobs))
    return summary, time.perf_counter() - t0, cpu_seconds() - c0


THRESHOLDS = tuple(range(5, 65, 5))  # the hindsight search: 5 to 60 % in steps of 5
SIDE_BY_SIDE = ("stockout_supply_days", "shipments", "mean_units_on_hand")


def _cell(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def compare(name: str, fleet, jobs: int = 1) -> list[str]:
    """ASR with each order point, the 20 % threshold, and the threshold that in hindsight
    runs out nowhere with the least stock (searched over THRESHOLDS); then the goals."""
    out = []
    t0 = time.perf_counter()
    fixed = summarize(simulate(fleet.model_copy(update={"order_point": "fixed"}), "asr",
                               jobs=jobs))
    service_run = simulate(fleet.model_copy(update={"order_point": "service"}), "asr",
                           jobs=jobs, keep_history=True)
    service = summarize(service_run)
    t1 = time.perf_counter()
    by_pct = {pct: summarize(simulate(fleet, "threshold", threshold_pct=float(pct), jobs=jobs))
              for pct in THRESHOLDS}
    t2 = time.perf_counter()
    thr = by_pct[20]
    clean = [pct for pct in THRESHOLDS if by_pct[pct]["stockout_supply_days"] == 0]
    best_pct = min(clean, key=lambda pct: (by_pct[pct]["mean_units_on_hand"], pct)) if clean else None
    best = by_pct[best_pct] if best_pct is not None else None
    best_label = f"best {best_pct} %" if best_pct is not None else "best: none"
    out.append(f"== {name}: {fixed['devices']} devices, {fixed['supplies']} supplies, "
               f"{fixed['days']} days (asr both {t1 - t0:.1f} s, {len(THRESHOLDS)} thresholds "
               f"{t2 - t1:.1f} s)")
    out.append(f"{'':28}{'asr fixed':>12}{'asr service':>12}{'thr 20 %':>12}{best_label:>12}")
    for key in SIDE_BY_SIDE + ("stockout_events", "order_lines", "units_shipped",
                               "premature_replacements",
                               "premature_flagged", "spike_alerts"):
        row = [fixed[key], service[key], thr[key], best[key] if best else "-"]
        out.append(f"{key:28}" + "".join(f"{_cell(v):>12}" for v in row))
    ratio = "".join(f"{_ratio(x['shipments'], thr['shipments']):>12}" for x in (fixed, service))
    out.append(f"{'parcels / 20 %':28}{ratio}")
    if best is not None:
        ratio = "".join(f"{_ratio(x['mean_units_on_hand'], best['mean_units_on_hand']):>12}"
                        for x in (fixed, service))
        out.append(f"{'on hand / best threshold':28}{ratio}")
    out.append("thresholds (stockout days / parcels / on hand): " + "; ".join(
        f"{pct} %: {_cell(by_pct[pct]['stockout_supply_days'])}/{by_pct[pct]['shipments']}/"
        f"{_cell(by_pct[pct]['mean_units_on_hand'])}" for pct in THRESHOLDS))
    for mode, asr in (("fixed", fixed), ("service", service)):
        checks = [
            ("zero stockout days", asr["stockout_supply_days"] == 0),
            ("parcels ≤ 0.5× 20 %", asr["shipments"] <= 0.5 * thr["shipments"]),
            ("every premature replacement flagged",
             asr["premature_flagged"] == asr["premature_replacements"]),
        ]
        verdicts = [(label, "met" if ok else "MISSED") for label, ok in checks]
        if mode == "service":
            label = "on hand ≤ best zero-stockout threshold's"
            if best is None:
                verdicts.append((label, "no threshold from 5 to 60 % runs without stockouts"))
            else:
                verdicts.append((label, "met" if asr["mean_units_on_hand"]
                                 <= best["mean_units_on_hand"] else "MISSED"))
            # a cycle is an order line: the service level is per line, out of stock or not
            events, lines = asr["stockout_events"], asr["order_lines"]
            verdicts.append(("cycles without a stockout",
                             f"{1 - events / lines:.4f} ({events} stockouts, {lines} lines)"
                             if lines else "no order lines"))
            after, runs = _stockouts_after_change(service_run)
            if runs:
                verdicts.append(("stockouts begun within "
                                 f"{CHANGE_WINDOW_DAYS} days of a spike or trend starting",
                                 f"{after} of {runs}"))
        out.append(f"goals, asr {mode}: " + "; ".join(
            f"{label}: {verdict}" for label, verdict in verdicts))
    for note in fixed["not_integrated"]:
        out.append(f"note: {note}")
    return out


# A stockout this soon after a spike or trend began was set up by the change: the order
# point plus the longest shipping time of the bench fleets is under two weeks.
CHANGE_WINDOW_DAYS = 14


def _stockouts_after_change(result) -> tuple[int, int]:
    """Stockouts (runs of days out) that began within CHANGE_WINDOW_DAYS after a spike
    or a trend of their printer began, and all stockouts: where the service order point's
    misses come from (a change of use level is not in the forecast's spread)."""
    after = runs = 0
    for d in result.devices:
        starts = [(ev.start - result.fleet.start).days for ev in d.spec.events
                  if ev.type in ("spike", "trend")]
        out_days: dict[str, list[int]] = {}
        for day, sid in result.history[d.serial].stockouts:
            out_days.setdefault(sid, []).append(day)
        for days in out_days.values():
            firsts = [day for i, day in enumerate(days) if i == 0 or days[i - 1] != day - 1]
            runs += len(firsts)
            after += sum(1 for day in firsts
                         if any(0 <= day - s <= CHANGE_WINDOW_DAYS for s in starts))
    return after, runs


def _waste_stockout_days(result) -> float:
    return sum(s.stockout_days for d in result.devices for s in d.supplies.values() if s.waste)


def coarse_waste(jobs: int = 1) -> list[str]:
    """The coarse-reporting fleet: waste stockouts (goal 0) under ASR, next to the
    threshold baseline run on the same fleet."""
    fleet = parse_fleet(yaml.safe_dump(coarse_waste_fleet(), sort_keys=False),
                        source="generated coarse-reporting fleet")
    t0 = time.perf_counter()
    asr = simulate(fleet, "asr", jobs=jobs)
    thr = simulate(fleet, "threshold", jobs=jobs)
    a, b = summarize(asr), summarize(thr)
    out = [f"== coarse_waste: {a['devices']} printers reporting in 25 % steps or \"some "
           f"remaining\", {a['days']} days ({time.perf_counter() - t0:.1f} s)"]
    rows = [("waste_stockout_days", round(_waste_stockout_days(asr), 2),
             round(_waste_stockout_days(thr), 2))]
    rows += [(k, a[k], b[k]) for k in ("stockout_supply_days", "shipments", "mean_units_on_hand")]
    out += _beside_threshold(rows)
    out.append(f"premature replacements: {a['premature_flagged']} of "
               f"{a['premature_replacements']} flagged; false flags (no early swap): "
               f"{a['premature_false_flags']}")
    ok = _waste_stockout_days(asr) == 0
    out.append(f"targets: zero waste stockouts: {'met' if ok else 'MISSED'}")
    return out


def noise_only(noise: float, jobs: int = 1, seeds: tuple[int, ...] = (300,)) -> list[str]:
    """Spike alerts per printer-year on fleets whose use changes by daily noise alone
    (goal ≤ 0.02): every one is a false alarm. One fleet per seed (each its own printers
    and noise draws), and the rate over all of them."""
    out, alerts, printer_years = [], 0, 0.0
    for seed in seeds:
        fleet = parse_fleet(yaml.safe_dump(noise_only_fleet(noise, seed=seed), sort_keys=False),
                            source=f"generated noise-only fleet ({noise}, seed {seed})")
        t0 = time.perf_counter()
        s = summarize(simulate(fleet, "asr", jobs=jobs))
        years = s["devices"] * s["days"] / 365
        alerts += s["spike_alerts"]
        printer_years += years
        per = s["spike_alerts"] / years
        out.append(f"== noise_only {noise} seed {seed}: {s['devices']} printers, no events, "
                   f"{s['days']} days ({time.perf_counter() - t0:.1f} s): {s['spike_alerts']} spike "
                   f"alerts, {per:.3f} per printer-year (goal ≤ 0.02: "
                   f"{'met' if per <= 0.02 else 'MISSED'}); stockout days {s['stockout_supply_days']}")
    if len(seeds) > 1:
        per = alerts / printer_years
        out.append(f"== noise_only {noise}, {len(seeds)} seeds: {alerts} spike alerts in "
                   f"{printer_years:.0f} printer-years, {per:.3f} per printer-year (goal ≤ 0.02: "
                   f"{'met' if per <= 0.02 else 'MISSED'})")
    return out


def _seeds(text: str) -> tuple[int, ...]:
    """"300", "300,305" or "300-304" (inclusive)."""
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.strip().partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"seeds {text!r}: expected numbers, a list (300,305) or a range (300-304)") from None
        if hi < lo:
            raise argparse.ArgumentTypeError(f"seeds {text!r}: range {part} runs backwards")
        out.extend(range(lo, hi + 1))
    return tuple(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-fleets", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--skip-fleets", action="store_true", help="only the 1,000-device timing")
    ap.add_argument("--seeds", type=_seeds, default=(300,),
                    help="noise-only fleets' seeds: 300, 300,305 or 300-304 (default 300)")
    ap.add_argument("--noise-only", action="store_true",
                    help="only the noise-only fleets (with --seeds: the false-alarm rate)")
    ap.add_argument("--side-by-side", action="store_true",
                    help="only the three fleets, ASR (both order points) beside the thresholds")
    ap.add_argument("--heavy-coarse", action="store_true",
                    help="only the heavy coarse and \"some remaining\" fleet")
    ap.add_argument("--coarse-waste", action="store_true", help="only the coarse waste fleet")
    ap.add_argument("--jobs", type=int, default=default_jobs(),
                    help="worker processes per run (default: one per CPU)")
    args = ap.parse_args(argv)
    if args.write_fleets:
        write_fleets()
        return 0
    if args.heavy_coarse or args.coarse_waste:
        if args.coarse_waste:
            print("\n".join(coarse_waste(args.jobs)), flush=True)
        if args.heavy_coarse:
            print("\n".join(heavy_coarse(args.jobs)), flush=True)
        return 0
    if args.noise_only:
        for noise in (0.3, 0.5):
            print("\n".join(noise_only(noise, args.jobs, args.seeds)), flush=True)
        return 0
    if not args.skip_fleets:
        for name in ("small_office", "fifty_sites", "heavy_production"):
            print("\n".join(compare(name, load_fleet(FLEETS / f"{name}.yaml"), args.jobs)),
                  flush=True)
        if args.side_by_side:
            return 0
        print("\n".join(coarse_waste(args.jobs)), flush=True)
        print("\n".join(heavy_coarse(args.jobs)), flush=True)
        for noise in (0.3, 0.5):
            print("\n".join(noise_only(noise, args.jobs, args.seeds)), flush=True)
    if not args.skip_timing:
        fleet = parse_fleet(fleet_1000(), source="generated 1,000-device fleet")
        tm = model_only(fleet)
        s, wall, cpu = timed(fleet, "asr", args.jobs)
        _, thr_wall, thr_cpu = timed(fleet, "threshold", args.jobs)
        print(f"== timing: {s['devices']} devices × {s['days']} days, {args.jobs} job(s): asr "
              f"{wall:.1f} s wall, {cpu:.1f} s CPU (target ≤ 30 s wall) "
              f"{'met' if wall <= 30 else 'MISSED'}; threshold {thr_wall:.1f} s wall, "
              f"{thr_cpu:.1f} s CPU; the printers alone (no agent, no policy, one process) "
              f"{tm:.1f} s, asr CPU {cpu / tm:.1f}× that; asr stockout days "
              f"{s['stockout_supply_days']}, orders {s['orders']}, spike alerts {s['spike_alerts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
