"""The UI's server-drawn charts: numbers become SVG lines, gaps stay gaps, and nothing but
numbers the code formats (and an escaped title) gets into the markup."""

from __future__ import annotations

import re

from shipyard.ui.charts import HEIGHT, WIDTH, charts, line


def test_a_line_is_scaled_to_its_top_and_broken_where_there_is_no_data() -> None:
    drawn = str(line([1.0, 2.0, None, 4.0, 4.0], "Requests/s"))
    runs = re.findall(r'<polyline points="([^"]+)"/>', drawn)
    assert len(runs) == 2  # the gap at the third point splits the line
    first = [tuple(map(float, p.split(","))) for p in runs[0].split()]
    second = [tuple(map(float, p.split(","))) for p in runs[1].split()]
    assert [x for x, _ in first] == [0.0, WIDTH / 4] and second[0][0] == WIDTH * 3 / 4
    assert second[0][1] == 2.0 and first[0][1] > first[1][1]  # the top is highest, up is less y
    assert all(0 <= y <= HEIGHT for _, y in first + second)
    assert 'aria-label="Requests/s over the last 15 minutes"' in drawn


def test_a_lone_point_is_a_dot_and_no_data_says_so() -> None:
    assert "<circle" in str(line([None, 3.0, None], "x"))
    assert "no data yet" in str(line([None, None], "x"))


def test_a_title_is_escaped_and_values_read_in_their_units() -> None:
    assert "<script>" not in str(line([1.0, 2.0], "<script>alert(1)</script>"))
    summary = {
        "values": {"requests": 12.345, "error_rate": 0.0125, "p99_latency": 0.0421},
        "history": {"requests": [1.0, 2.0]},
    }
    shown = {c.title: c.value for c in charts(summary)}
    assert shown["Requests/s"] == "12.3" and shown["Error rate"] == "1.25 %"
    assert shown["p99 latency"] == "42.1 ms" and shown["Live accuracy"] == "—"
