import pytest

from pledges.lib.graphics import history_chart, nice_step, signatures_badge


@pytest.mark.parametrize(
    ("largest", "step"), [(0, 1), (3, 1), (9, 5), (10, 5), (812, 500), (4000, 1000), (12345, 5000)]
)
def test_gridlines_fall_on_round_numbers(largest, step):
    assert nice_step(largest) == step


def test_chart_bars_are_proportional_and_inside_the_plot():
    history = [
        {"date": "2026-11-19", "new": 100, "total": 100},
        {"date": "2026-11-20", "new": 0, "total": 100},
        {"date": "2026-11-21", "new": 400, "total": 500},
    ]
    chart = history_chart(history)
    heights = [bar.height for bar in chart.bars]
    assert heights[1] == 0 and heights[2] == pytest.approx(4 * heights[0])
    for bar in chart.bars:
        assert chart.left <= bar.x and bar.x + bar.width <= chart.right
        assert chart.top <= bar.y and bar.y + bar.height == pytest.approx(chart.bottom)
    assert [tick.label for tick in chart.y_ticks] == ["0", "100", "200", "300", "400"]
    assert [tick.label for tick in chart.x_ticks] == ["19 Nov", "20 Nov", "21 Nov"]
    assert chart.total == 500 and chart.busiest["date"] == "2026-11-21"


def test_badge_grows_with_the_number():
    small, large = signatures_badge(5), signatures_badge(1_234_567)
    assert large.value == "1,234,567 signatures" and large.width > small.width
    assert large.label_width + large.value_width == large.width
