"""The console's words in Chinese and English, and how numbers, times and
durations read in each. Chinese is the default (the property office)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

CATALOGUE: dict[str, tuple[str, str]] = {
    # frame
    "app.title": ("自助缴费机管理台", "Kiosk console"),
    "nav.fleet": ("设备总览", "Fleet"),
    "nav.transactions": ("交易查询", "Transactions"),
    "nav.reconciliation": ("对账", "Reconciliation"),
    "nav.commands": ("指令记录", "Commands"),
    "nav.audit": ("审计日志", "Audit log"),
    "nav.users": ("用户", "Users"),
    "nav.sign_out": ("退出", "Sign out"),
    "live.on": ("实时", "Live"),
    "live.off": ("重新连接中…", "Reconnecting…"),
    "role.viewer": ("查看员", "Viewer"),
    "role.operator": ("值班员", "Operator"),
    "role.admin": ("管理员", "Administrator"),
    # sign in
    "login.title": ("登录", "Sign in"),
    "login.username": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.wrong": ("用户名或密码不正确。", "Wrong user name or password."),
    "login.locked": ("登录失败次数过多，账户已锁定至 {until}。", "Too many failed attempts: locked until {until}."),
    "login.disabled": ("此账户已停用，请联系管理员。", "This account is disabled; ask an administrator."),
    "login.expired": ("登录已过期，请重新登录。", "Your session ended; please sign in again."),
    "login.demo": ("演示账户（仅限演示）", "Demo accounts (demo only)"),
    # errors
    "error.forbidden": ("您的角色无权执行此操作。", "Your role does not allow this."),
    "error.csrf": ("表单已过期或来源无效，请刷新页面后重试。", "The form expired or did not come from this console; reload and try again."),
    "error.not_found": ("未找到。", "Not found."),
    "error.bad_input": ("输入有误：{detail}", "Please check: {detail}"),
    "error.title": ("无法完成", "Cannot do that"),
    "error.back": ("返回", "Back"),
    # fleet summary
    "sum.kiosks": ("设备", "Kiosks"),
    "sum.online": ("在线", "Online"),
    "sum.offline": ("离线", "Offline"),
    "sum.never": ("从未连接", "Never seen"),
    "sum.faults": ("设备故障", "Device faults"),
    "sum.paper": ("缺纸 / 纸将尽", "Paper out / low"),
    "sum.oos": ("暂停服务", "Out of service"),
    "sum.backlog": ("冲正积压", "Reversal backlog"),
    "sum.today": ("今日交易", "Today"),
    "sum.takings": ("今日收款", "Today's takings"),
    "sum.txn_count": ("{n} 笔", "{n} payments"),
    # alerts
    "alerts.title": ("告警", "Alerts"),
    "alerts.none": ("无告警，一切正常。", "No alerts: all is well."),
    "alert.offline": ("{kiosk} 离线", "{kiosk} is offline"),
    "alert.paper_out": ("{kiosk} 打印机缺纸", "{kiosk}: printer out of paper"),
    "alert.device_fault": ("{kiosk} {device}故障", "{kiosk}: {device} fault"),
    "alert.reversal_stuck": ("{kiosk} 冲正未能完成", "{kiosk}: a reversal is not draining"),
    "alert.cleared.offline": ("{kiosk} 已恢复在线（离线 {away}）", "{kiosk} is back online after {away} away"),
    "alert.cleared": ("{kiosk} 已恢复：{what}", "{kiosk} recovered: {what}"),
    # fleet table
    "fleet.title": ("设备总览", "Fleet"),
    "fleet.filter.all": ("全部", "All"),
    "fleet.filter.attention": ("需处理", "Needs attention"),
    "fleet.filter.offline": ("离线", "Offline"),
    "fleet.filter.fault": ("故障", "Faults"),
    "fleet.filter.paper": ("纸张", "Paper"),
    "fleet.filter.backlog": ("积压", "Backlog"),
    "fleet.filter.oos": ("暂停服务", "Out of service"),
    "fleet.filter.never": ("从未连接", "Never seen"),
    "fleet.search": ("搜索设备编号", "Search kiosk id"),
    "fleet.search.go": ("搜索", "Search"),
    "fleet.showing": ("第 {first}–{last} 台，共 {total} 台", "{first}–{last} of {total}"),
    "fleet.none": ("没有符合条件的设备。", "No kiosk matches."),
    "fleet.prev": ("上一页", "Previous"),
    "fleet.next": ("下一页", "Next"),
    "col.kiosk": ("设备", "Kiosk"),
    "col.status": ("状态", "Status"),
    "col.screen": ("当前界面", "Screen"),
    "col.card_reader": ("刷卡器", "Card reader"),
    "col.pin_pad": ("密码键盘", "PIN pad"),
    "col.printer": ("打印机", "Printer"),
    "col.other_devices": ("其他设备", "Other devices"),
    "col.backlog": ("待上传", "Backlog"),
    "col.today": ("今日笔数", "Today"),
    "col.takings": ("今日收款", "Takings"),
    "col.version": ("版本", "Version"),
    "col.last_seen": ("最近心跳", "Last heartbeat"),
    "state.online": ("在线", "Online"),
    "state.offline": ("离线", "Offline"),
    "state.never": ("从未连接", "Never seen"),
    "state.oos": ("暂停服务", "Out of service"),
    "state.since": ("自 {when}", "since {when}"),
    "state.for": ("已 {duration}", "for {duration}"),
    "state.back": ("离线 {away}后恢复", "back after {away} away"),
    "device.ok": ("正常", "OK"),
    "device.fault": ("故障", "Fault"),
    "device.paper_near_end": ("纸将尽", "Paper low"),
    "device.paper_out": ("缺纸", "Paper out"),
    "device.unknown": ("未知", "Unknown"),
    "device.card_reader": ("刷卡器", "card reader"),
    "device.pin_pad": ("密码键盘", "PIN pad"),
    "device.printer": ("打印机", "printer"),
    "device.ic_contact": ("IC卡读卡器（接触）", "IC card reader (contact)"),
    "device.ic_contactless": ("IC卡读卡器（非接）", "IC card reader (contactless)"),
    "backlog.reversals": ("冲正 {n}", "{n} reversal(s)"),
    "backlog.backups": ("备份 {n}", "{n} backup(s)"),
    "backlog.none": ("无", "none"),
    "screen.none": ("—", "—"),
    # the kiosk's screens (kiosk/screens), shown with their code name: "账单 (bill)"
    "screen.idle": ("首页", "Home"),
    "screen.entry": ("输入房号", "House number"),
    "screen.bill": ("账单", "Bill"),
    "screen.message": ("提示", "Message"),
    "screen.swipe": ("刷卡", "Swipe card"),
    "screen.pin": ("输入密码", "PIN entry"),
    "screen.processing": ("交易处理中", "Processing"),
    "screen.result": ("交易结果", "Result"),
    "screen.out_of_service": ("暂停服务", "Out of service"),
    "screen.card_insert": ("插卡 / 感应", "Insert or tap card"),
    "screen.card": ("卡片信息", "Card"),
    "screen.card_amount": ("输入金额", "Amount"),
    "screen.card_pin": ("卡片密码", "Card PIN"),
    "screen.card_wallet": ("选择钱包", "Choose wallet"),
    "screen.card_processing": ("写卡中", "Writing the card"),
    "screen.card_result": ("卡务结果", "Card result"),
    "screen.card_tear": ("等待放回卡片", "Waiting for the card"),
    # commands
    "cmd.out_of_service": ("暂停服务", "Out of service"),
    "cmd.in_service": ("恢复服务", "Back in service"),
    "cmd.reload_config": ("重新加载配置", "Reload configuration"),
    "cmd.upload_journal": ("立即上传流水", "Upload journal now"),
    "cmd.print_test": ("打印测试凭条", "Print a test receipt"),
    "cmd.restart_app": ("重启应用", "Restart the app"),
    "cmd.send": ("发送", "Send"),
    "cmd.send_all": ("发送到全部设备", "Send to all kiosks"),
    "cmd.confirm_all": ("确定要向全部 {n} 台设备发送“{command}”吗？", "Send “{command}” to all {n} kiosks?"),
    "cmd.confirm_one": ("确定要向 {kiosk} 发送“{command}”吗？", "Send “{command}” to {kiosk}?"),
    "cmd.title": ("发送指令", "Send a command"),
    "cmd.all_title": ("向全部设备发送指令", "Command to every kiosk"),
    "cmd.sent": ("指令已发送，设备将在下次心跳时执行。", "Sent: the kiosk runs it at its next heartbeat."),
    "cmd.sent_all": ("已向 {n} 台设备发送指令。", "Sent to {n} kiosks."),
    "cmd.viewer_note": ("查看员不能发送指令。", "Viewers cannot send commands."),
    "cmd.none": ("还没有指令。", "No commands yet."),
    "cmd.status.queued": ("等待设备", "Waiting for kiosk"),
    "cmd.status.delivered": ("已送达，等待执行", "Delivered, waiting"),
    "cmd.status.done": ("已完成", "Done"),
    "cmd.status.failed": ("失败", "Failed"),
    "cmd.status.unsupported": ("设备不支持", "Not supported"),
    "cmd.status.expired": ("已过期", "Expired"),
    "cmd.col.id": ("编号", "No."),
    "cmd.col.command": ("指令", "Command"),
    "cmd.col.by": ("发送人", "Sent by"),
    "cmd.col.at": ("发送时间", "Sent"),
    "cmd.col.status": ("状态", "Status"),
    "cmd.col.result": ("结果", "Result"),
    "cmd.col.acked": ("确认时间", "Acknowledged"),
    "cmd.batch": ("批次 {batch}：{done}/{total} 已确认", "Batch {batch}: {done} of {total} acknowledged"),
    "cmd.toast": ("{kiosk}：{command} — {status}", "{kiosk}: {command} — {status}"),
    # kiosk page
    "kiosk.status": ("状态", "Status"),
    "kiosk.last_seen": ("最近心跳", "Last heartbeat"),
    "kiosk.interval": ("心跳间隔", "Heartbeat interval"),
    "kiosk.version": ("应用版本", "App version"),
    "kiosk.uptime": ("运行时长", "Uptime"),
    "kiosk.screen": ("当前界面", "Screen"),
    "kiosk.in_transaction": ("交易进行中", "Transaction running"),
    "kiosk.devices": ("设备状态", "Devices"),
    "kiosk.today": ("今日", "Today"),
    "kiosk.today.approved": ("成功 {n} 笔，{amount}", "{n} approved, {amount}"),
    "kiosk.today.declined": ("拒绝 {n} 笔", "{n} declined"),
    "kiosk.today.reversed": ("冲正 {n} 笔，{amount}", "{n} reversed, {amount}"),
    "kiosk.backlog": ("待上传", "Upload backlog"),
    "kiosk.backlog.oldest": ("最早的冲正已等待 {duration}", "oldest reversal waiting {duration}"),
    "kiosk.last_error": ("最近错误", "Last error"),
    "kiosk.no_error": ("无", "None"),
    "kiosk.history": ("设备历史", "Device history"),
    "kiosk.history.none": ("暂无记录。", "Nothing recorded yet."),
    "kiosk.transactions": ("最近交易", "Recent transactions"),
    "kiosk.commands": ("指令", "Commands"),
    "kiosk.never": ("此设备尚未连接过。", "This kiosk has never been in touch."),
    "kiosk.seconds": ("{n} 秒", "{n} s"),
    "kiosk.all_transactions": ("全部交易", "All its transactions"),
    "hist.online": ("上线", "Online"),
    "hist.online.back": ("恢复在线（离线 {away}）", "Back online after {away} away"),
    "hist.offline": ("离线（最后心跳在 {ago} 前）", "Offline (last heartbeat {ago} before)"),
    "hist.device": ("{device}：{state}", "{device}: {state}"),
    "hist.error": ("错误", "Error"),
    "hist.service.out_of_service": ("暂停服务", "Taken out of service"),
    "hist.service.in_service": ("恢复服务", "Back in service"),
    "hist.alert": ("告警", "Alert"),
    "hist.cleared": ("告警解除", "Alert cleared"),
    "hist.version": ("应用版本 {version}", "App version {version}"),
    "hist.restart": ("应用已重启（此前运行了 {uptime}）", "App restarted (it had run {uptime})"),
    # transactions
    "txn.title": ("交易查询", "Transactions"),
    "txn.from": ("起始日", "From"),
    "txn.to": ("截止日", "To"),
    "txn.house": ("房号", "House"),
    "txn.card": ("卡号（前6位/后4位）", "Card (first 6 / last 4)"),
    "txn.kiosk": ("设备", "Kiosk"),
    "txn.status": ("状态", "Status"),
    "txn.any": ("全部", "Any"),
    "txn.search": ("查询", "Search"),
    "txn.export": ("导出结果 (CSV)", "Export results (CSV)"),
    "txn.day_totals": ("导出当日汇总 (CSV)", "Day totals (CSV)"),
    "txn.bank_journal": ("导出当日银行流水 (CSV)", "Bank journal (CSV)"),
    "txn.found": ("共 {n} 笔", "{n} found"),
    "txn.truncated": ("只显示前 {n} 笔，请缩小查询范围。", "Showing the first {n}; narrow the search."),
    "txn.none": ("没有符合条件的交易。", "No transaction matches."),
    "txn.col.at": ("时间", "Time"),
    "txn.col.day": ("账务日", "Business day"),
    "txn.col.kiosk": ("设备", "Kiosk"),
    "txn.col.kind": ("类型", "Type"),
    "txn.col.house": ("房号", "House"),
    "txn.col.card": ("卡号", "Card"),
    "txn.col.amount": ("金额", "Amount"),
    "txn.col.status": ("状态", "Status"),
    "txn.col.reference": ("参考号", "Reference"),
    "txn.col.txn_id": ("流水号", "Transaction id"),
    "txn.kind.card_payment": ("银行卡缴费", "Card bill payment"),
    "txn.kind.wallet_purchase": ("钱包缴费", "Wallet bill payment"),
    "txn.kind.wallet_load": ("圈存", "Wallet load"),
    "txn.kind.wallet_unload": ("圈提", "Wallet unload"),
    "txn.col.ic_card": ("IC 卡", "IC card"),
    "txn.status.pending": ("待卡片确认", "Pending, awaiting the card"),
    "txn.totals_of": ("{kind}：{totals}", "{kind}: {totals}"),
    "txn.totals_pending": ("；待确认 {n} 笔 {amount}", "; {n} pending, {amount}"),
    "txn.status.approved": ("成功", "Approved"),
    "txn.status.declined": ("拒绝", "Declined"),
    "txn.status.reversed": ("已冲正", "Reversed"),
    "txn.status.voided": ("已撤销（未扣款）", "Voided (nothing charged)"),
    "txn.totals": ("成功 {n} 笔 {amount}；拒绝 {d} 笔；冲正 {r} 笔 {ramount}",
                   "{n} approved, {amount}; {d} declined; {r} reversed, {ramount}"),
    "txn.bad_day": ("日期格式应为 YYYY-MM-DD", "dates are YYYY-MM-DD"),
    # reconciliation
    "rec.title": ("对账：物业台账与银行流水", "Reconciliation: property ledger against the bank journal"),
    "rec.day": ("账务日", "Business day"),
    "rec.show": ("查看", "Show"),
    "rec.recent": ("最近 14 天", "Last 14 days"),
    "rec.balanced": ("平", "Balanced"),
    "rec.differences": ("{n} 处差异", "{n} difference(s)"),
    "rec.none": ("无交易", "No activity"),
    "rec.totals": ("合计", "Totals"),
    "rec.bank": ("银行流水", "Bank journal"),
    "rec.ledger": ("物业台账", "Property ledger"),
    "rec.backups": ("设备备份", "Kiosk copies"),
    "rec.sales": ("收款", "Captured"),
    "rec.reversals": ("冲正", "Reversed"),
    "rec.net": ("净额", "Net"),
    "rec.count": ("笔数", "Count"),
    "rec.diff_title": ("差异明细", "Differences"),
    "rec.diff_none": ("银行流水、物业台账与设备备份完全一致。", "The bank journal, the property ledger and the kiosks' copies agree."),
    "rec.col.kind": ("差异", "Difference"),
    "rec.col.bank": ("银行", "Bank"),
    "rec.col.ledger": ("台账", "Ledger"),
    "rec.col.backup": ("设备备份", "Kiosk copy"),
    "rec.col.detail": ("说明", "Detail"),
    "rec.kind.missing_in_ledger": ("台账缺记录", "Missing in the ledger"),
    "rec.kind.missing_in_bank": ("银行无此交易", "Not in the bank journal"),
    "rec.kind.amount_differs": ("金额不符", "Amounts differ"),
    "rec.kind.reference_differs": ("参考号不符", "References differ"),
    "rec.kind.backup_missing": ("设备备份未到", "Kiosk copy not received"),
    "rec.kind.backup_differs": ("设备备份不符", "Kiosk copy disagrees"),
    "rec.kind.backup_unknown_to_bank": ("银行无此设备交易", "Kiosk copy unknown to the bank"),
    "rec.note.backlog": ("可能仍在设备的上传积压中", "may still be in the kiosk's upload backlog"),
    "rec.prevails": ("以银行流水为准。", "The bank journal prevails."),
    "rec.card_payments": ("银行卡缴费", "Bank card bill payments"),
    "rec.wallet": ("IC 卡钱包", "IC wallet"),
    "rec.wallet_note": ("每笔钱包交易核对其全部记录：圈存扣银行卡（撤销则退回），圈提入银行卡，钱包缴费记入物业台账，并与卡务中心的状态一致。",
                        "Each wallet transaction is checked over its whole life: a load debits the bank card "
                        "(a cancel credits it back), an unload credits it, a wallet bill payment credits the "
                        "property ledger, and all agree with the card centre's state."),
    "rec.wallet_none": ("钱包交易的银行流水、物业台账与卡务中心记录完全一致。",
                        "The bank journal, the property ledger and the card centre agree on every wallet transaction."),
    "rec.cards": ("卡务中心", "Card centre"),
    "rec.loads": ("圈存", "Loads"),
    "rec.load_reversals": ("圈存退回", "Loads credited back"),
    "rec.unloads": ("圈提", "Unloads"),
    "rec.purchases": ("钱包缴费", "Bill payments"),
    "rec.pending": ("待卡片确认", "Pending"),
    "rec.pending_title": ("待卡片确认（非差异）", "Pending, awaiting the card (not a difference)"),
    "rec.col.type": ("类型", "Type"),
    "rec.col.card_state": ("卡务中心", "Card centre"),
    "rec.col.bank_card": ("银行卡", "Bank card"),
    "rec.card_state.authorised": ("待确认", "pending"),
    "rec.card_state.completed": ("已完成", "completed"),
    "rec.card_state.cancelled": ("已撤销", "cancelled"),
    "rec.card_state.declined": ("拒绝", "declined"),
    "rec.kind.bank_without_card": ("银行已动账，卡务未完成", "Bank moved money the card centre did not"),
    "rec.kind.ledger_without_card": ("台账已入账，卡务未完成", "Ledger holds a payment the card centre did not complete"),
    "rec.kind.unknown_to_card_centre": ("卡务中心无此交易", "Unknown to the card centre"),
    "rec.kind.pending_overdue": ("逾期未决", "Still pending after its day"),
    "rec.note.expected": ("应为 {amount}", "expected {amount}"),
    "rec.note.awaiting_since": ("{day} 起仍在等待卡片", "awaiting the card since {day}"),
    # audit, users
    "audit.title": ("审计日志", "Audit log"),
    "audit.col.at": ("时间", "Time"),
    "audit.col.user": ("用户", "User"),
    "audit.col.action": ("操作", "Action"),
    "audit.col.target": ("对象", "Target"),
    "audit.col.detail": ("详情", "Detail"),
    "audit.col.ip": ("来源地址", "From"),
    "audit.filter": ("筛选", "Filter"),
    "audit.action.sign_in": ("登录", "Signed in"),
    "audit.action.sign_in_failed": ("登录失败", "Sign-in failed"),
    "audit.action.sign_out": ("退出", "Signed out"),
    "audit.action.command_sent": ("发送指令", "Command sent"),
    "audit.action.export": ("导出", "Export"),
    "audit.action.user_added": ("添加用户", "User added"),
    "audit.action.user_changed": ("修改用户", "User changed"),
    "users.title": ("用户", "Users"),
    "users.add": ("添加用户", "Add a user"),
    "users.username": ("用户名", "User name"),
    "users.display_name": ("姓名", "Name"),
    "users.role": ("角色", "Role"),
    "users.password": ("初始密码（至少 8 位）", "Initial password (8+ characters)"),
    "users.submit": ("添加", "Add"),
    "users.added": ("已添加用户 {name}。", "Added {name}."),
    "users.state": ("状态", "State"),
    "users.locked": ("已锁定至 {until}", "Locked until {until}"),
    "users.disabled": ("已停用", "Disabled"),
    "users.active": ("正常", "Active"),
    "users.unlock": ("解锁", "Unlock"),
    "users.last_login": ("最近登录", "Last sign-in"),
    "users.unlocked": ("已解锁 {name}。", "Unlocked {name}."),
    # time
    "time.never": ("—", "—"),
}


def translator(lang: str) -> Callable[..., str]:
    index = 0 if lang == "zh" else 1

    def t(key: str, **values: object) -> str:
        pair = CATALOGUE.get(key)
        text = key if pair is None else pair[index]
        return text.format(**values) if values else text
    return t


def pick_lang(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGS:
        return cookie
    if accept_language and accept_language.lower().startswith("en"):
        return "en"
    return DEFAULT_LANG


# --- formats --------------------------------------------------------------------
def money(fen: int | None) -> str:
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"


def when(epoch: float | None, now: float) -> str:
    """Today: 10:42:05; another day: 11-20 10:42; another year: 2025-11-20 10:42."""
    if epoch is None:
        return "—"
    moment = datetime.fromtimestamp(epoch)
    today = datetime.fromtimestamp(now)
    if moment.date() == today.date():
        return f"{moment:%H:%M:%S}"
    if moment.year == today.year:
        return f"{moment:%m-%d %H:%M}"
    return f"{moment:%Y-%m-%d %H:%M}"


def full_time(epoch: float | None) -> str:
    return "—" if epoch is None else f"{datetime.fromtimestamp(epoch):%Y-%m-%d %H:%M:%S}"


def duration(seconds: float | None, lang: str) -> str:
    """Rounded to what matters: 45 s, 3 min, 2 h 5 min, 3 d 4 h."""
    if seconds is None:
        return "—"
    s = max(0, int(seconds))
    zh = lang == "zh"
    if s < 60:
        return f"{s} 秒" if zh else f"{s} s"
    m = s // 60
    if m < 60:
        return f"{m} 分钟" if zh else f"{m} min"
    h, m = divmod(m, 60)
    if h < 24:
        return (f"{h} 小时 {m} 分" if zh else f"{h} h {m} min") if m else (f"{h} 小时" if zh else f"{h} h")
    d, h = divmod(h, 24)
    return (f"{d} 天 {h} 小时" if zh else f"{d} d {h} h") if h else (f"{d} 天" if zh else f"{d} d")
