"""Programmatic layout checks: no clipped text, nothing outside the kiosk area."""
from __future__ import annotations

import re
from typing import Any

Widget = Any  # kivy is imported lazily: the display must exist before Kivy loads
Label = Any

SLACK = 1.5  # px of rounding
LATIN_WORD = re.compile(r"[A-Za-z0-9¥,.:()'’“”\-/→×·…]+")


def _name(widget: Widget) -> str:
    text = getattr(widget, "text", "")
    return f"{type(widget).__name__}({text[:40]!r})" if text else type(widget).__name__


def _word_width(label: Label, word: str) -> float:
    from kivy.core.text import Label as CoreLabel

    core = CoreLabel(text=word, font_size=label.font_size, font_name=label.font_name, bold=label.bold)
    core.refresh()
    return core.texture.size[0]


def label_problems(label: Label) -> list[str]:
    if not label.text.strip():
        return []
    label.texture_update()
    tw, th = label.texture_size
    problems = []
    text_size = label.text_size
    if text_size[1] is not None:
        problems.append(f"{_name(label)}: fixed text_size height hides overflow")
    if tw > label.width + SLACK or th > label.height + SLACK:
        problems.append(f"{_name(label)}: text {tw:.0f}x{th:.0f} > box {label.width:.0f}x{label.height:.0f}")
    if text_size[0] is not None:
        # Kivy breaks a word that does not fit mid-word: fine for Chinese, not for "Confirm".
        for word in LATIN_WORD.findall(label.text):
            if len(word) > 1 and _word_width(label, word) > text_size[0] + SLACK:
                problems.append(f"{_name(label)}: word {word!r} broken to fit {text_size[0]:.0f} px")
    return problems


def layout_problems(root: Widget, area: Widget) -> list[str]:
    """Every visible Label's text fits its box; every visible widget lies inside
    `area`, and inside the BoxLayout that places it (a box whose children need
    more room than it has pushes them over its neighbours); children of a
    ScrollView may scroll, so only their text is checked."""
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.label import Label
    from kivy.uix.scrollview import ScrollView

    ax, ay = area.to_window(area.x, area.y)
    ax2, ay2 = ax + area.width, ay + area.height
    problems: list[str] = []

    def visit(widget: Widget, in_scroll: bool) -> None:
        if widget.opacity == 0 or widget.width <= 0 or widget.height <= 0:
            return
        if not in_scroll:
            x, y = widget.to_window(widget.x, widget.y)
            if x < ax - SLACK or y < ay - SLACK or x + widget.width > ax2 + SLACK or y + widget.height > ay2 + SLACK:
                problems.append(f"{_name(widget)} at {x:.0f},{y:.0f} {widget.width:.0f}x{widget.height:.0f} "
                                f"outside the kiosk area {ax:.0f},{ay:.0f} {area.width:.0f}x{area.height:.0f}")
        if isinstance(widget, Label):
            problems.extend(label_problems(widget))
        if isinstance(widget, BoxLayout) and not in_scroll:
            for child in widget.children:
                if child.opacity == 0 or child.width <= 0 or child.height <= 0:
                    continue
                if (child.x < widget.x - SLACK or child.y < widget.y - SLACK
                        or child.right > widget.right + SLACK or child.top > widget.top + SLACK):
                    problems.append(f"{_name(child)} {child.width:.0f}x{child.height:.0f} sticks out of "
                                    f"{_name(widget)} {widget.width:.0f}x{widget.height:.0f}")
        for child in widget.children:
            visit(child, in_scroll or isinstance(widget, ScrollView))

    visit(root, False)
    return problems


def texts(root: Widget) -> list[str]:
    from kivy.uix.label import Label

    from kiosk.demo.touch import walk

    return [w.text for w in walk(root) if isinstance(w, Label) and w.text and w.opacity > 0]


def find_text(root: Widget, needle: str) -> Any:
    return next((t for t in texts(root) if needle in t), None)
