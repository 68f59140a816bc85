"""The household's bill, itemized; total and Pay at the bottom."""
from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.screens.bill_view import bill_view
from kiosk.screens.widgets import BillRowView


class BillScreen(Screen):
    heading = StringProperty("")
    subheading = StringProperty("")
    total = StringProperty("")
    nothing_due = BooleanProperty(False)
    upload_pending = BooleanProperty(False)

    def on_kv_post(self, base_widget: Any) -> None:
        app = App.get_running_app()
        app.bind(lang=self._render, portrait=self._render)
        app.flow.payment.bind(bill=self._render)
        self._render()

    def _render(self, *_: Any) -> None:
        app = App.get_running_app()
        rows, summary = self.ids.rows, self.ids.summary
        rows.clear_widgets()
        summary.clear_widgets()
        bill = app.flow.payment.bill
        if bill is None:
            self.heading = self.subheading = self.total = ""
            self.nothing_due = self.upload_pending = False
            return
        view = bill_view(bill, app.lang)
        self.heading, self.subheading, self.total = view.heading, view.subheading, view.total
        self.nothing_due, self.upload_pending = view.nothing_due, view.upload_pending
        # landscape: the month itemized on the left, arrears and total on the
        # right; portrait: one list above the total
        lists = ((rows, view.rows), (summary, ())) if app.portrait else ((rows, view.current), (summary, view.summary))
        for target, items in lists:
            for i, row in enumerate(items):
                target.add_widget(BillRowView(text=row.text, amount=row.amount, kind=row.kind, first=i == 0))
        self.ids.scroll.scroll_y = self.ids.summary_scroll.scroll_y = 1
