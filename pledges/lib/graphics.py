"""The geometry of the two images drawn on the server: the embeddable badge and the press page's
chart of signatures per day. Templates turn these numbers into SVG; nothing here knows HTML."""

import math
from dataclasses import dataclass, field
from datetime import date

from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import dateformat
from django.utils.translation import ngettext

# Approximate advance widths of Verdana/DejaVu Sans at 11 px. The badge's text also carries
# textLength, so that it fills exactly this width whichever font the viewer has.
_WIDE = set("MWmw")
_NARROW = set("fijlrt.,:;'!| ")


def text_width(text: str, size: float = 11) -> float:
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += 3.6
        elif char in _WIDE:
            width += 10.0
        elif char.isupper() or char.isdigit():
            width += 7.2
        else:
            width += 6.4
    return round(width * size / 11, 1)


@dataclass(frozen=True)
class Badge:
    label: str
    value: str
    height: int = 20
    padding: int = 7
    label_width: float = field(init=False)
    value_width: float = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "label_width", text_width(self.label) + 2 * self.padding)
        object.__setattr__(self, "value_width", text_width(self.value) + 2 * self.padding)

    @property
    def width(self) -> float:
        return self.label_width + self.value_width

    @property
    def label_text_width(self) -> float:
        return self.label_width - 2 * self.padding

    @property
    def value_text_width(self) -> float:
        return self.value_width - 2 * self.padding

    @property
    def label_x(self) -> float:
        return self.label_width / 2

    @property
    def value_x(self) -> float:
        return self.label_width + self.value_width / 2

    @property
    def text(self) -> str:
        return f"{self.label}: {self.value}"


def signatures_badge(count: int) -> Badge:
    """The badge in the active language ("12,345 signatures", "12.345 firmas")."""
    value = ngettext("%(count)s signature", "%(count)s signatures", count) % {"count": intcomma(count)}
    return Badge(label="Creators Coalition on AI", value=value)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    date: str
    new: int
    total: int


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    anchor: str = "middle"


@dataclass
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    total: int
    first: str
    last: str
    busiest: dict | None

    @property
    def middle_x(self) -> float:
        return (self.left + self.right) / 2

    @property
    def middle_y(self) -> float:
        return (self.top + self.bottom) / 2


def nice_step(largest: int, ticks: int = 4) -> int:
    """A round step (1, 2 or 5 times a power of ten) giving about `ticks` gridlines up to `largest`."""
    if largest <= ticks:
        return 1
    raw = largest / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if multiple * magnitude >= raw:
            return multiple * magnitude
    return 10 * magnitude


def axis_number(value: int) -> str:
    """A gridline's label, short enough to stay large on a phone: 5,000, then 12k, then 1.5M."""
    if value < 10_000:
        return intcomma(value)
    if value < 1_000_000:
        return f"{value / 1000:g}k"
    return f"{value / 1_000_000:g}M"


def short_date(iso: str) -> str:
    """ "21 Nov", with the month's name in the active language."""
    return dateformat.format(date.fromisoformat(iso), "j M")


def history_chart(history: list[dict], width: int = 640, height: int = 260) -> Chart:
    """Bars of new signatures per day, with round gridlines and the first, middle and last day
    labelled; `history` is compute_history()'s list."""
    # Room for labels drawn at 22 units on a phone (see site.css), where the chart shows at half size.
    left, right, top, bottom = 80, width - 12, 14, height - 36
    largest = max((day["new"] for day in history), default=0)
    step = nice_step(largest)
    y_max = max(step, math.ceil(largest / step) * step)
    plot_width, plot_height = right - left, bottom - top
    slot = plot_width / max(len(history), 1)
    bar_width = max(slot * 0.8, 0.5)
    bars = []
    for index, day in enumerate(history):
        bar_height = plot_height * day["new"] / y_max
        bars.append(
            Bar(
                x=round(left + index * slot + (slot - bar_width) / 2, 2),
                y=round(bottom - bar_height, 2),
                width=round(bar_width, 2),
                height=round(bar_height, 2),
                date=day["date"],
                new=day["new"],
                total=day["total"],
            )
        )
    y_ticks = [
        Tick(position=round(bottom - plot_height * value / y_max, 2), label=axis_number(value))
        for value in range(0, y_max + 1, step)
    ]
    # The first and last day's labels align with the plot's edges, so that they are never cut off.
    x_ticks = []
    if history:
        x_ticks.append(Tick(position=left, label=short_date(history[0]["date"]), anchor="start"))
    if len(history) >= 3:
        middle = len(history) // 2
        x_ticks.append(
            Tick(
                position=round(left + middle * slot + slot / 2, 2), label=short_date(history[middle]["date"])
            )
        )
    if len(history) >= 2:
        x_ticks.append(Tick(position=right, label=short_date(history[-1]["date"]), anchor="end"))
    busiest = max(history, key=lambda day: day["new"]) if history else None
    return Chart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        bars=bars,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        total=history[-1]["total"] if history else 0,
        first=history[0]["date"] if history else "",
        last=history[-1]["date"] if history else "",
        busiest=busiest,
    )
