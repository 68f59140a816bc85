"""The string catalogue: every text a resident (or a tester at the bench) sees,
in Simplified Chinese (the default) and English. No Kivy import here, so the
catalogue is checked by plain unit tests (tests/test_i18n.py).

Keys are dotted (`screen.what`). Placeholders use str.format names and must be
the same in both languages. Screens call `tr(key, lang, **fields)`; the error
types in kiosk/domain/errors.py name their key in `message_key`.
"""
from __future__ import annotations

import logging
from datetime import date, datetime

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

log = logging.getLogger(__name__)

# key: (中文, English)
CATALOGUE: dict[str, tuple[str, str]] = {
    # --- common chrome -------------------------------------------------------
    "app.title": ("自助缴费机", "Self-service payment kiosk"),
    "lang.switch": ("English", "中文"),          # names the language you switch *to*
    "common.back": ("返回", "Back"),
    "common.home": ("返回首页", "Start again"),
    "common.countdown": ("{seconds} 秒后\n返回首页", "Back to start\nin {seconds} s"),
    # --- idle / attract --------------------------------------------------------
    "idle.welcome": ("欢迎使用自助缴费机", "Welcome to the self-service payment kiosk"),
    "idle.pay": ("缴费", "Pay bills"),
    "idle.pay_hint": ("水费 · 电费 · 燃气费 · 物业费", "Water · electricity · gas · property fee"),
    "idle.card": ("卡务", "Card services"),
    "idle.card_hint": ("余额查询 · 圈存 · 圈提", "Balance · load · unload"),
    "idle.notices": ("公告", "Notices"),
    "idle.touch_hint": ("请轻触屏幕上的按钮", "Touch a button on the screen to begin"),
    "date.full": ("{year}年{month_name}{day}日 {weekday}", "{weekday} {day} {month_name} {year}"),
    "weekday.0": ("星期一", "Monday"),
    "weekday.1": ("星期二", "Tuesday"),
    "weekday.2": ("星期三", "Wednesday"),
    "weekday.3": ("星期四", "Thursday"),
    "weekday.4": ("星期五", "Friday"),
    "weekday.5": ("星期六", "Saturday"),
    "weekday.6": ("星期日", "Sunday"),
    "month.1": ("1月", "January"),
    "month.2": ("2月", "February"),
    "month.3": ("3月", "March"),
    "month.4": ("4月", "April"),
    "month.5": ("5月", "May"),
    "month.6": ("6月", "June"),
    "month.7": ("7月", "July"),
    "month.8": ("8月", "August"),
    "month.9": ("9月", "September"),
    "month.10": ("10月", "October"),
    "month.11": ("11月", "November"),
    "month.12": ("12月", "December"),
    # --- house-number entry ------------------------------------------------------
    "entry.title": ("请输入房号", "Enter your house number"),
    "entry.format": ("格式：楼栋-单元-房号，例如 3-2-1202",
                     "Format: building-unit-room, for example 3-2-1202"),
    "entry.placeholder": ("楼栋-单元-房号", "building-unit-room"),
    "entry.hint.ready": ("请核对房号，然后按“确认”", "Check the number, then press Confirm"),
    "entry.hint.continue": ("请继续输入：楼栋-单元-房号", "Keep typing: building-unit-room"),
    "entry.hint.refused": ("这里不能再输入“{char}”，例如 3-2-1202",
                           "“{char}” can't go there. Example: 3-2-1202"),
    "entry.hint.incomplete": ("房号还不完整，例如 3-2-1202",
                              "The house number isn't complete yet. Example: 3-2-1202"),
    "entry.key.backspace": ("← 删除", "← Delete"),
    "entry.key.clear": ("清空", "Clear"),
    "entry.key.confirm": ("确认", "Confirm"),
    "entry.busy": ("查询中…", "Looking up…"),
    # --- bill ----------------------------------------------------------------------
    "bill.title": ("账单", "Your bill"),
    "bill.house": ("房号 {house}", "House {house}"),
    "bill.area": ("建筑面积 {area} 平方米", "Floor area {area} m²"),
    "bill.as_of": ("截至 {date}", "As of {date}"),
    "bill.current": ("本期费用 {period}", "This month {period}"),
    "bill.due_on": ("缴费截止日 {date}", "Due by {date}"),
    "bill.current_paid": ("本期 {period} 已缴清，谢谢", "{period} is paid, thank you"),
    "bill.no_bill": ("暂无本期账单", "No bill issued yet"),
    "bill.readings": ("读数 {previous} → {current}，用量 {usage} {unit}",
                      "Meter {previous} → {current}, used {usage} {unit}"),
    "bill.tier": ("第{tier}阶梯 {quantity} {unit} × ¥{price}", "Tier {tier}: {quantity} {unit} × ¥{price}"),
    "bill.rate": ("{quantity} {unit} × ¥{price}", "{quantity} {unit} × ¥{price}"),
    "bill.property_rate": ("{quantity} 平方米 × ¥{price}/平方米", "{quantity} m² × ¥{price}/m²"),
    "bill.arrears": ("往期欠费", "Earlier unpaid months"),
    "bill.arrear": ("{period}（已逾期 {days} 天）", "{period} ({days} days overdue)"),
    "bill.late_fee": ("滞纳金", "Late fee"),
    "bill.late_fee_detail": ("其中 {period} 滞纳金 {amount}", "of which {period}: {amount}"),
    "bill.total": ("应缴合计", "Total due"),
    "bill.pay": ("缴费", "Pay"),
    "bill.nothing_due.title": ("没有待缴费用", "Nothing to pay"),
    "bill.nothing_due": ("您目前没有需要缴纳的费用，谢谢！", "Nothing is due at the moment. Thank you!"),
    "utility.water": ("水费", "Water"),
    "utility.electricity": ("电费", "Electricity"),
    "utility.gas": ("燃气费", "Gas"),
    "utility.property": ("物业费", "Property fee"),
    "unit.m3": ("立方米", "m³"),
    "unit.kWh": ("度", "kWh"),
    "unit.m2": ("平方米", "m²"),
    # --- messages ------------------------------------------------------------------
    "msg.sorry": ("抱歉", "Sorry"),
    "msg.reenter": ("重新输入", "Enter again"),
    "msg.retry": ("重试", "Try again"),
    "msg.pay_soon.title": ("缴费功能即将开通", "Payment coming soon"),
    "msg.pay_soon": ("本机刷卡缴费功能即将开通。目前请到物业服务中心缴费，谢谢！",
                     "Paying at this kiosk is coming soon. For now, please pay at the property office. Thank you!"),
    "msg.card_soon.title": ("卡务", "Card services"),
    "msg.card_soon": ("本机卡务功能（余额查询、圈存、圈提）即将开通，敬请期待。",
                      "Card services (balance, load, unload) are coming soon to this kiosk."),
    # --- errors (message_key of kiosk/domain/errors.py) ----------------------------------
    "error.generic": ("系统暂时出了点问题，请稍后再试。", "Something went wrong. Please try again later."),
    "error.bad_house_number": ("房号格式不正确，请按 楼栋-单元-房号 输入，例如 3-2-1202。",
                               "That house number doesn't look right. Use building-unit-room, for example 3-2-1202."),
    "error.host": ("物业系统暂时无法处理，请稍后再试。",
                   "The property office system can't help right now. Please try again later."),
    "error.host_unavailable": ("暂时无法连接物业系统，请稍后重试。",
                               "We can't reach the property office system right now. Please try again in a moment."),
    "error.host_rejected": ("物业系统未能处理这次查询，请联系物业服务中心。",
                            "The property office system could not handle this request. Please contact the property office."),
    "error.house_not_found": ("没有找到这个房号，请核对后重新输入。",
                              "We couldn't find that house number. Please check it and enter it again."),
    "error.host_bad_reply": ("物业系统返回的账单有误，为安全起见没有显示。请稍后重试或联系物业服务中心。",
                             "The bill from the property office system looked wrong, so it is not shown. "
                             "Please try again later or contact the property office."),
    # --- device bench (demo only) --------------------------------------------------------
    "bench.title": ("设备台", "Device bench"),
    "bench.subtitle": ("演示用：模拟设备和故障", "Demo only: simulated devices and faults"),
    "bench.host": ("物业主机", "Property host"),
    "bench.host.running": ("● 运行中", "● Running"),
    "bench.host.stopped": ("● 已停止", "● Stopped"),
    "bench.host.switching": ("切换中…", "Switching…"),
    "bench.host.stop": ("停止主机", "Stop host"),
    "bench.host.start": ("启动主机", "Start host"),
    "bench.host.failed": ("切换失败：{reason}", "Switch failed: {reason}"),
    "bench.card_wallet": ("卡包", "Card wallet"),
    "bench.pin_pad": ("密码键盘", "PIN pad"),
    "bench.receipt": ("凭条输出", "Receipt output"),
    "bench.arrives_with_payment": ("随刷卡缴费功能一同上线", "Arrives with card payment"),
}


def tr(key: str, lang: str = DEFAULT_LANGUAGE, /, **fields: object) -> str:
    """The text for `key` in `lang`, with `fields` filled in. An unknown key
    shows itself (and is logged) rather than crashing a resident's screen;
    tests/test_i18n.py keeps that from ever happening."""
    entry = CATALOGUE.get(key)
    if entry is None:
        log.error("i18n: no catalogue entry %r", key)
        return key
    text = entry[1] if lang == "en" else entry[0]
    return text.format(**fields) if fields else text


def other_language(lang: str) -> str:
    return "en" if lang == "zh" else "zh"


def pick(text: str, lang: str) -> str:
    """Config texts such as notices may be written bilingual as "中文 / English";
    show the half in the resident's language (the whole text if not split)."""
    parts = [p.strip() for p in text.split(" / ", 1)]
    if len(parts) == 2 and all(parts):
        return parts[1] if lang == "en" else parts[0]
    return text


def format_date(day: date, lang: str) -> str:
    return tr("date.full", lang, year=day.year, day=day.day,
              weekday=tr(f"weekday.{day.weekday()}", lang), month_name=tr(f"month.{day.month}", lang))


def format_clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S")
