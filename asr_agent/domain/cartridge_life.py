"""Pages a cartridge lasts in one printer, learned from its past cartridges with the catalog's
yield as the prior: how far along a supply that only says "some remaining" is, and whether
a cartridge taken out after so many pages was spent or replaced early.

Pure: lives in, a `CartridgeYield` and verdicts out. No clock, no I/O.

Why: a supply that reports only -3 shows no level to measure use by, and the catalog's
yield is rated at one coverage while a printer prints at its own (a colour printed less
than black lasts more pages than its rating). The pages each of its cartridges lasted are
that printer's own rating for that part. Lives count only within one part number.

Which lives teach: one seen spent (it showed empty, or its lowest coarse step, before it
went) always does, whatever its length: that is what the printer gets from a cartridge. A
life that ended while the supply still said "some remaining" teaches unless it is short: a
cartridge out with more than `premature_threshold_pct` of the yield known then still to
go, beyond the lives' own spread, was replaced early (a premature replacement, which says
nothing of the yield). A long life teaches at most twice the yield known then, so one odd
counter does not carry it off. The prior weighs `PRIOR_LIVES` of a cartridge, so the first
life moves it most of the way.

The spread: whole cartridges of one printer differ by a few percent in pages (the pages
follow whichever colour was used most each day; a colour used less lasts more pages, and
by a less steady number). A life short by the threshold plus one spread is premature, so a
cartridge used up on a slow month is not flagged. The spread is the lives' own relative
standard deviation, with `PRIOR_SPREAD` counting as `_SPREAD_PRIOR_LIVES` lives; under two
lives there is none to measure and the threshold alone decides.

A printer that really uses more per page than the catalog's rating, and whose cartridges
are always swapped before it shows empty, would have each of them flagged early; one seen
empty corrects it.

What cannot be told: a colour that is always swapped early while it says "some
remaining" looks like one that lasts that many pages. Its pages are the only measure of
its use, and every life of it is equally short. Nothing else read moves with that one
colour: the page counter follows whichever colour was printed most; the waste bottle fills
with every colour's waste, and one that says little moves a step per many cartridges (a
600 g bottle's 25 % step is some 1,500 g of toner); the other colours' lives say how much
of them was printed, not of this one. The catalog's yield bounds it only where its
rating holds: it is rated at one coverage, and a printer that puts more of a colour on
each page (photos, a logo on every page) gets fewer pages from every cartridge of it, each
one short of the rating though used up. Flagging every life short of the rating would tell
those customers of a waste that is not; one life seen empty teaches the pages a
cartridge really lasts, and from then on an early swap stands out. (A coarse reporter
says more: its steps measure each cartridge's use, see `consumption`.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

__all__ = ["CartridgeYield", "LifeSeen", "LifeVerdict", "PRIOR_LIVES", "learn", "prior"]

# How many cartridges' worth of evidence the catalog's yield counts for.
PRIOR_LIVES = 0.25
# One life teaches at most this many times the yield known before it.
_LONGEST = 2.0
# Relative spread of whole cartridges' pages before the lives say (measured on simulated
# printers: about 2 % for the colour used most, 6 % for one used a third as much).
PRIOR_SPREAD = 0.02
_SPREAD_PRIOR_LIVES = 2.0


@dataclass(frozen=True, slots=True)
class LifeSeen:
    """One cartridge seen from its installation to its removal."""

    removed_at: datetime
    part_number: str | None
    pages: int  # pages the device printed while it was in
    spent: bool  # it showed empty (or its lowest coarse step) before it was removed


@dataclass(frozen=True, slots=True)
class LifeVerdict:
    life: LifeSeen
    left_percent: float  # estimated share left at removal, against the yield known then
    premature: bool
    taught: bool


@dataclass(frozen=True, slots=True)
class CartridgeYield:
    """Pages per cartridge of one part in one printer: the prior and what lives taught.

    `counted_until`: the removal time of the last life counted, so a caller that carries
    this from run to run and shows the same lives again does not count them twice.
    """

    part_number: str | None
    prior_pages: float | None  # the catalog's yield; None when it gives none
    pages_sum: float = 0.0  # pages of the lives that taught (each capped, see module doc)
    pages_sq: float = 0.0  # their squares, for the spread
    lives: int = 0
    counted_until: datetime | None = None

    @property
    def pages(self) -> float | None:
        """Expected pages per cartridge; None with neither a prior nor a life."""
        if self.prior_pages is not None and self.prior_pages > 0:
            return ((self.prior_pages * PRIOR_LIVES + self.pages_sum)
                    / (PRIOR_LIVES + self.lives))
        return self.pages_sum / self.lives if self.lives else None

    @property
    def percent_per_page(self) -> float | None:
        pages = self.pages
        return 100.0 / pages if pages else None

    @property
    def learned(self) -> bool:
        return self.lives > 0

    @property
    def spread(self) -> float:
        """Relative standard deviation of a whole cartridge's pages (module docstring)."""
        w, n = _SPREAD_PRIOR_LIVES, self.lives
        if n < 2:
            # nothing to measure it by: the catalog's yield alone holds for the colour used
            # most, and a colour used less lasts longer than it (no early flag either way)
            return 0.0
        mean = self.pages_sum / n
        if mean <= 0:
            return PRIOR_SPREAD
        var = max(0.0, (self.pages_sq - n * mean * mean) / (n - 1)) / (mean * mean)
        return float(((w * PRIOR_SPREAD ** 2 + (n - 1) * var) / (w + n - 1)) ** 0.5)

    def left_percent(self, pages: int) -> float | None:
        """The share of a cartridge left after `pages`; None when nothing is known."""
        ppp = self.percent_per_page
        return None if ppp is None else max(0.0, 100.0 - pages * ppp)


def prior(part_number: str | None, yield_pages: float | None) -> CartridgeYield:
    """Nothing learned yet: the catalog's yield for the part (None: no prior)."""
    return CartridgeYield(part_number, float(yield_pages) if yield_pages else None)


def learn(start: CartridgeYield, lives: Iterable[LifeSeen], *,
          premature_threshold_pct: float,
          judge_by_prior: bool = True) -> tuple[CartridgeYield, tuple[LifeVerdict, ...]]:
    """Fold `lives` (in time order) into `start`; a verdict for each life of its part.

    Lives of another part, and lives removed no later than `start.counted_until`, are
    left out (the latter are already counted); a verdict is still given for those of the
    part, against the yield as it stands. `judge_by_prior` False: no life is premature
    until one has taught (a waste bottle, whose rating in pages holds at one mix of
    colours: a colour printer fills it per page two or three times as fast as a mono one,
    since its waste follows every colour and its pages the one printed most).
    """
    y = start
    verdicts: list[LifeVerdict] = []
    for life in lives:
        if life.part_number != y.part_number or life.pages < 0:
            continue
        before = y.pages
        left = y.left_percent(life.pages)
        if left is None:
            # no prior and nothing learned: a spent life is the first measurement
            if life.spent and _new(y, life) and life.pages > 0:
                y = _add(y, life, float(life.pages))
                verdicts.append(LifeVerdict(life, 0.0, False, True))
            continue
        if not judge_by_prior:
            # against the lives' own pages only: the rating would still pull them
            judged = (max(0.0, 100.0 - life.pages * 100.0 * y.lives / y.pages_sum)
                      if y.learned and y.pages_sum > 0 else None)
            left = left if judged is None else judged
        else:
            judged = left
        premature = (not life.spent and judged is not None
                     and judged > premature_threshold_pct + 100.0 * y.spread)
        teaches = not premature and _new(y, life) and life.pages > 0
        if teaches:
            assert before is not None
            y = _add(y, life, min(float(life.pages), _LONGEST * before))
        elif _new(y, life):
            y = replace(y, counted_until=life.removed_at)
        verdicts.append(LifeVerdict(life, 0.0 if life.spent else left, premature, teaches))
    return y, tuple(verdicts)


def _new(y: CartridgeYield, life: LifeSeen) -> bool:
    return y.counted_until is None or life.removed_at > y.counted_until


def _add(y: CartridgeYield, life: LifeSeen, pages: float) -> CartridgeYield:
    return replace(y, pages_sum=y.pages_sum + pages, pages_sq=y.pages_sq + pages * pages,
                   lives=y.lives + 1, counted_until=life.removed_at)
