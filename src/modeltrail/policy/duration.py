"""ISO 8601 durations (``P10Y``, ``P6M``, ``PT72H``, ``P1Y2M3DT4H``) as used for retention periods.

Years and months are calendar units, so a duration is kept as its components and applied to a date with
:meth:`Duration.add_to` instead of being turned into a fixed number of seconds.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_DURATION = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


@dataclass(frozen=True)
class Duration:
    """A parsed ISO 8601 duration; ``text`` is the original spelling."""

    text: str
    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: float = 0.0

    def add_to(self, moment: datetime) -> datetime:
        """``moment`` plus this duration; months clamp to the month's last day (31 Jan + P1M = 28/29 Feb)."""
        month_index = moment.month - 1 + self.months + 12 * self.years
        year = moment.year + month_index // 12
        month = month_index % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        shifted = moment.replace(year=year, month=month, day=day)
        return shifted + timedelta(
            weeks=self.weeks, days=self.days, hours=self.hours, minutes=self.minutes, seconds=self.seconds
        )

    def __str__(self) -> str:
        return self.text


def parse_duration(text: str) -> Duration:
    """Parse an ISO 8601 duration; :class:`ValueError` (with the reason) if ``text`` is not one."""
    match = _DURATION.fullmatch(text)
    # "P" and "PT" alone match the pattern but carry no component; ISO 8601 requires at least one.
    if match is None or not any(match.groupdict().values()) or text.endswith("T"):
        raise ValueError(f"expected an ISO 8601 duration such as P6M, P10Y or PT72H, got {text!r}")
    parts = {k: v for k, v in match.groupdict().items() if v is not None}
    return Duration(
        text=text,
        years=int(parts.get("years", 0)),
        months=int(parts.get("months", 0)),
        weeks=int(parts.get("weeks", 0)),
        days=int(parts.get("days", 0)),
        hours=int(parts.get("hours", 0)),
        minutes=int(parts.get("minutes", 0)),
        seconds=float(parts.get("seconds", 0.0)),
    )
