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
    "common.cancel": ("取消", "Cancel"),
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
    "receipt.arrear": ("欠费", "Arrears"),
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
    "msg.payments_off.title": ("刷卡缴费暂停", "Card payment unavailable"),
    "msg.no_paper.title": ("凭条打印机缺纸", "No receipt paper"),
    "msg.no_paper": ("凭条打印机没有纸了，本次缴费将无法打印凭条。是否继续缴费？"
                     "缴费后可凭参考号到物业服务中心补打凭条。",
                     "The receipt printer has no paper. Continue without a receipt? "
                     "The property office can print one for you later."),
    "msg.continue_no_receipt": ("继续（不打印凭条）", "Continue without receipt"),
    # --- card payment ----------------------------------------------------------------
    "pay.amount": ("缴费金额", "Amount to pay"),
    "pay.card": ("银行卡 {card}", "Card {card}"),
    "pay.paper_low": ("凭条纸即将用完。", "Receipt paper is running low."),
    "pay.no_receipt": ("本次缴费不打印凭条。", "No receipt will be printed for this payment."),
    "pay.host_unavailable": ("暂时无法连接银行，本次没有扣款。请重试。",
                             "We can't reach the bank right now. Nothing was charged. Please try again."),
    "swipe.title": ("请刷银行卡", "Swipe your bank card"),
    "swipe.prompt": ("请在读卡器上刷您的银行卡", "Swipe your bank card through the card reader"),
    "swipe.again": ("未能读取卡片，请再刷一次", "The card could not be read. Please swipe it again."),
    "swipe.hint": ("磁条朝向读卡器槽，匀速刷过", "Stripe towards the slot, one steady movement"),
    "pin.title": ("请输入密码", "Enter your PIN"),
    "pin.prompt": ("请在密码键盘上输入6位密码\n然后按“确认”键", "Enter your 6-digit PIN on the PIN pad, then press Enter"),
    "pin.hint": ("输入密码时请用手遮挡键盘", "Cover the PIN pad with your hand while you type"),
    "pin.wrong": ("密码错误，还可以再试 {tries} 次，请重新输入", "Wrong PIN. {tries} tries left: please enter it again."),
    "pin.wrong_plain": ("密码错误，请重新输入", "Wrong PIN. Please enter it again."),
    "pin.again": ("请重新输入密码", "Please enter your PIN again"),
    "processing.title": ("正在处理", "Processing"),
    "processing.body": ("正在与银行确认，请稍候…", "Confirming with your bank, please wait…"),
    "processing.detail": ("{amount} · 银行卡 {card}\n请不要离开", "{amount} · card {card}\nPlease don't leave yet"),
    "result.approved.title": ("缴费成功", "Payment successful"),
    "result.approved": ("房号 {house} 的费用已缴清，谢谢！", "The bill for house {house} is paid. Thank you!"),
    "result.amount": ("金额", "Amount"),
    "result.card": ("银行卡", "Card"),
    "result.reference": ("参考号", "Reference"),
    "result.done": ("完成", "Done"),
    "result.declined.title": ("未能缴费", "Payment not made"),
    "result.unknown.title": ("未能确认缴费结果", "Payment not confirmed"),
    "result.unavailable.title": ("无法连接银行", "Cannot reach the bank"),
    "result.another_card": ("换一张卡", "Use another card"),
    "result.lookup_again": ("重新查询账单", "Look up the bill again"),
    "receipt.printing": ("正在打印凭条…", "Printing your receipt…"),
    "receipt.printed": ("凭条已打印，请取走凭条。", "Your receipt is printed. Please take it."),
    "receipt.not_printed": ("凭条未能打印。缴费已成功，物业服务中心可凭参考号 {reference} 补打凭条。",
                            "The receipt could not be printed. Your payment went through: "
                            "the property office can reprint it, reference {reference}."),
    "receipt.skipped": ("本次未打印凭条。物业服务中心可凭参考号 {reference} 补打凭条。",
                        "No receipt was printed. The property office can print one, reference {reference}."),
    # --- the bank's decline codes (docs/payments.md) in plain words ------------------------
    "decline.wrong_pin": ("密码错误，本次没有扣款。", "Wrong PIN. Nothing was charged."),
    "decline.pin_locked": ("密码错误次数过多，此卡已被锁定，本次没有扣款。请换一张卡，或联系发卡银行。",
                           "Too many wrong PINs: this card is locked. Nothing was charged. "
                           "Please use another card or contact your bank."),
    "decline.insufficient_funds": ("卡内余额不足，本次没有扣款。请换一张卡。",
                                   "There is not enough money on this card. Nothing was charged. "
                                   "Please use another card."),
    "decline.card_blocked": ("此卡已被银行冻结，无法使用，本次没有扣款。请换一张卡，或联系发卡银行。",
                             "This card has been blocked by the bank. Nothing was charged. "
                             "Please use another card or contact your bank."),
    "decline.expired_card": ("此卡已过有效期，本次没有扣款。请换一张卡。",
                             "This card has expired. Nothing was charged. Please use another card."),
    "decline.daily_limit": ("超过此卡的每日支付限额，本次没有扣款。请换一张卡，或明天再试。",
                            "This payment is over the card's daily limit. Nothing was charged. "
                            "Please use another card or try again tomorrow."),
    "decline.unknown_card": ("银行无法识别此卡，本次没有扣款。请换一张卡。",
                             "The bank does not recognise this card. Nothing was charged. Please use another card."),
    "decline.bill_changed": ("账单金额刚刚有变化，本次没有扣款。请重新查询账单。",
                             "The bill has just changed. Nothing was charged. Please look up the bill again."),
    "decline.nothing_due": ("这户目前已没有待缴费用，本次没有扣款。",
                            "Nothing is due for this house any more. Nothing was charged."),
    "decline.reversed": ("这笔缴费已被撤销，没有扣款。请重新缴费。",
                         "This payment was cancelled and nothing was charged. Please try again."),
    "decline.other": ("银行拒绝了这笔缴费，本次没有扣款。请换一张卡。",
                      "The bank declined this payment. Nothing was charged. Please use another card."),
    # --- IC wallet receipts and names (kiosk/services/wallet.py) ------------------------
    "wallet.ED": ("电子存折", "passbook"),
    "wallet.EP": ("电子钱包", "purse"),
    "wallet.receipt.load": ("圈存 {wallet}", "Load to {wallet}"),
    "wallet.receipt.unload": ("圈提 {wallet}", "Unload from {wallet}"),
    "wallet.receipt.purchase": ("IC卡缴费 {wallet}", "Paid from {wallet}"),
    "wallet.receipt.card": ("IC卡号 Card", "IC card"),
    "wallet.receipt.balance": ("{wallet}余额 Balance", "{wallet} balance"),
    "wallet.receipt.title.wallet_load": ("IC卡圈存凭条 / CARD LOAD RECEIPT", "CARD LOAD RECEIPT"),
    "wallet.receipt.title.wallet_unload": ("IC卡圈提凭条 / CARD UNLOAD RECEIPT", "CARD UNLOAD RECEIPT"),
    "wallet.receipt.title.wallet_purchase": ("IC卡缴费凭条 / PAID BY IC CARD", "PAID BY IC CARD"),
    "error.card_not_same": ("这不是刚才那张卡，请放回刚才使用的卡片。",
                            "This is not the card you used. Please put back the same card."),

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
    "error.device": ("设备暂时出现故障，本次没有扣款。请联系物业服务中心。",
                     "A device is not working. Nothing was charged. Please contact the property office."),
    "error.reader_fault": ("读卡器暂时无法使用，本次没有扣款。请联系物业服务中心。",
                           "The card reader is not working. Nothing was charged. Please contact the property office."),
    "error.bad_swipe": ("未能读取卡片，请再刷一次。", "The card could not be read. Please swipe it again."),
    "error.swipe_timeout": ("没有检测到刷卡，本次没有扣款。", "No card was swiped. Nothing was charged."),
    "error.pinpad_fault": ("密码键盘暂时无法使用，本次没有扣款。请联系物业服务中心。",
                           "The PIN pad is not working. Nothing was charged. Please contact the property office."),
    "error.pin_cancelled": ("已取消输入密码，本次没有扣款。", "PIN entry was cancelled. Nothing was charged."),
    "error.pin_timeout": ("输入密码超时，本次没有扣款。请重新开始。",
                          "The PIN was not entered in time. Nothing was charged. Please start again."),
    "error.printer_fault": ("凭条打印机暂时无法使用。", "The receipt printer is not working."),
    "error.paper_out": ("凭条打印机缺纸。", "The receipt printer has no paper."),
    "error.outcome_unknown": ("我们未能确认这笔缴费。系统正在自动撤销，不会从您的银行卡扣款。",
                              "We could not confirm the payment. It is being cancelled automatically, "
                              "and nothing will be charged to your card."),
    "error.payments_suspended": ("刷卡缴费暂时无法使用，请稍后再试。",
                                 "Card payment is temporarily unavailable. Please try again later."),
    # --- IC card errors ------------------------------------------------------------------
    "error.card": ("这张卡暂时无法使用，请取回卡片后重新放好。",
                   "This card can't be used right now. Please take it and present it again."),
    "error.card_removed": ("卡片已移开，请把卡片放回读卡区，并保持不动。",
                           "The card was moved away. Please put it back on the reader and hold it still."),
    "error.card_fault": ("无法读取这张卡，请取回卡片后重新放好。",
                         "The card could not be read. Please take the card and present it again."),
    "error.not_our_card": ("本机不能使用这张卡，请使用小区的IC卡。",
                           "This kiosk can't use this card. Please use your estate IC card."),
    "error.card_pin_wrong": ("卡片密码错误，请重新输入。", "Wrong card PIN. Please enter it again."),
    "error.card_pin_blocked": ("卡片密码输错次数过多，已被锁定。请到物业服务中心解锁。",
                               "Too many wrong PINs: the card's PIN is locked. "
                               "Please ask the property office to unlock it."),
    "error.wallet_insufficient": ("卡内余额不足，卡内的钱没有扣减。",
                                  "There is not enough money on the card. Nothing was taken from it."),
    "error.wallet_limit": ("存入后卡内余额将超过上限，本次没有扣款。请减少金额。",
                           "That would take the card over its maximum balance. Nothing was charged. "
                           "Please choose a smaller amount."),
    "error.card_mac_invalid": ("卡片没有接受这笔交易，卡内余额没有变化。如已从银行卡扣款，系统将自动退回。",
                               "The card did not accept the transaction, so its balance has not changed. "
                               "If your bank card was charged, the money will be returned automatically."),
    "error.card_key_missing": ("这张卡不支持此项业务，本次没有扣款。",
                               "This card does not support this service. Nothing was charged."),
    "error.card_blacklisted": ("这张卡已挂失或停用，不能使用。请联系物业服务中心。",
                               "This card has been reported lost or is blocked. Please contact the property office."),
    "error.card_torn": ("交易时卡片被移开了。请把同一张卡放回读卡区并保持不动，我们会确认交易结果。",
                        "The card was moved away during the transaction. Please put the same card back "
                        "and hold it still, so we can check whether it went through."),
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
    "bench.network": ("网络", "Network"),
    "bench.network.up": ("正常", "Up"),
    "bench.network.down": ("断开", "Down"),
    "bench.network.drop_replies": ("丢失应答", "Replies lost"),
    "bench.network.unwired": ("此运行方式没有网络开关", "No network switch in this runner"),
    "bench.card_wallet": ("卡包", "Card wallet"),
    "bench.wallet.hint": ("点一张卡，就在读卡器上刷这张卡", "Tap a card to swipe it on the reader"),
    "bench.reader.armed": ("● 读卡器等待刷卡", "● Reader armed: swipe a card"),
    "bench.reader.idle": ("● 读卡器未启用", "● Reader not armed"),
    "bench.reader.not_armed": ("读卡器未启用：请先在缴费页面按“缴费”",
                               "Reader not armed: press Pay on the bill first"),
    "bench.card.pin": ("密码 {pin}", "PIN {pin}"),
    "bench.card.expired": ("已过期", "expired"),
    "bench.card.blocked": ("已冻结", "blocked"),
    "bench.card.low_balance": ("余额低 {amount}", "low balance {amount}"),
    "bench.card.limit": ("日限额 {amount}", "limit {amount}"),
    "bench.pin_pad": ("密码键盘", "PIN pad"),
    "bench.pin.hint": ("演示密码见卡包中每张卡", "The demo PIN of each card is in the wallet"),
    "bench.pin.entering": ("● 正在输入密码", "● Collecting a PIN"),
    "bench.pin.idle": ("● 未在输入密码", "● Not collecting a PIN"),
    "bench.key.clear": ("清除", "Clear"),
    "bench.key.cancel": ("取消", "Cancel"),
    "bench.key.enter": ("确认", "Enter"),
    "bench.key.backspace": ("← 退格", "← Back"),
    "bench.receipt": ("凭条输出", "Receipt output"),
    "bench.receipt.count": ("已打印 {count} 张", "{count} printed"),
    "bench.receipt.none": ("还没有打印凭条", "No receipt printed yet"),
    "bench.paper": ("纸量", "Paper"),
    "bench.paper.ok": ("正常", "OK"),
    "bench.paper.near_end": ("将尽", "Near end"),
    "bench.paper.out": ("缺纸", "Out"),
    "bench.printer.online": ("联机", "Online"),
    "bench.printer.offline": ("脱机", "Offline"),
    "bench.no_sims": ("没有模拟设备（本机未配置刷卡缴费）", "No simulated devices (card payment is not configured)"),
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
