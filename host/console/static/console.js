// Live updates for the console (no framework, no build step): one
// EventSource per page; the server sends HTML fragments rendered by the same
// templates as the page, which are swapped in by id.
(function () {
  "use strict";
  var body = document.body;
  var lang = document.documentElement.getAttribute("data-lang") || "zh";
  var prefix = "/console";

  // --- "for 3 min" next to times, kept current -----------------------------
  function duration(seconds) {
    var s = Math.max(0, Math.floor(seconds)), zh = lang === "zh";
    if (s < 60) return zh ? s + " 秒" : s + " s";
    var m = Math.floor(s / 60);
    if (m < 60) return zh ? m + " 分钟" : m + " min";
    var h = Math.floor(m / 60); m = m % 60;
    if (h < 24) return zh ? h + " 小时" + (m ? " " + m + " 分" : "") : h + " h" + (m ? " " + m + " min" : "");
    var d = Math.floor(h / 24); h = h % 24;
    return zh ? d + " 天" + (h ? " " + h + " 小时" : "") : d + " d" + (h ? " " + h + " h" : "");
  }
  function tickTimes(root) {
    var now = Date.now() / 1000;
    (root || document).querySelectorAll("time[data-since]").forEach(function (el) {
      var since = parseFloat(el.getAttribute("data-since"));
      if (!isNaN(since)) el.textContent = (lang === "zh" ? "已 " : "for ") + duration(now - since);
    });
  }
  tickTimes();
  setInterval(tickTimes, 10000);

  // --- confirmations for commands ------------------------------------------
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      var select = form.querySelector("select");
      var label = select ? select.options[select.selectedIndex].text : "";
      if (!window.confirm(form.getAttribute("data-confirm").replace("{command}", label))) e.preventDefault();
    });
  });

  // --- toasts ------------------------------------------------------------------
  var toasts = document.getElementById("toasts");
  function toast(text, level) {
    if (!toasts || !text) return;
    while (toasts.children.length >= 4) toasts.removeChild(toasts.firstChild);
    var el = document.createElement("div");
    el.className = "toast " + (level || "");
    el.setAttribute("role", "status");
    el.textContent = text;
    toasts.appendChild(el);
    setTimeout(function () { if (el.parentNode) el.parentNode.removeChild(el); }, 8000);
  }

  function swap(id, html) {
    var old = document.getElementById(id);
    if (!old) return null;
    var holder = document.createElement("tbody");
    holder.innerHTML = html.trim();
    var fresh = holder.firstElementChild;
    if (!fresh) return null;
    if (old.tagName !== "TR") {                  // a block: parse as a block
      var div = document.createElement("div");
      div.innerHTML = html.trim();
      fresh = div.firstElementChild;
    }
    old.parentNode.replaceChild(fresh, old);
    tickTimes(fresh);
    return fresh;
  }

  // --- the stream ------------------------------------------------------------------
  var view = body.getAttribute("data-live");
  var live = document.getElementById("live");
  if (view === null || !live) return;
  var url = prefix + "/events?view=" + encodeURIComponent(view) + "&" + (body.getAttribute("data-live-query") || "");
  var source = new EventSource(url);
  function setLive(on) {
    live.classList.toggle("on", on);
    live.textContent = live.getAttribute(on ? "data-on" : "data-off");
  }
  source.addEventListener("open", function () { setLive(true); });
  source.addEventListener("error", function () { setLive(false); });
  source.addEventListener("hello", function () { setLive(true); });
  source.addEventListener("bye", function () { source.close(); window.location = prefix + "/login?expired=1"; });

  function on(name, handler) {
    source.addEventListener(name, function (e) { handler(JSON.parse(e.data)); });
  }
  on("alert", function (d) {
    var list = document.getElementById("alerts");
    if (list && !document.getElementById(d.key)) {
      list.insertAdjacentHTML("afterbegin", d.html);
      while (list.children.length > 50) list.removeChild(list.lastElementChild);
      tickTimes(list);
    }
    showEmptyAlerts();
    toast(d.toast, d.level);
  });
  on("cleared", function (d) {
    var item = document.getElementById(d.key);
    if (item) item.parentNode.removeChild(item);
    showEmptyAlerts();
    toast(d.toast, "ok");
  });
  function showEmptyAlerts() {
    var list = document.getElementById("alerts"), empty = document.getElementById("alerts-empty");
    if (list && empty) empty.hidden = list.children.length > 0;
  }
  // on (re)connect the server sends what the page shows as of now: nothing is missed
  on("alerts", function (d) {
    var list = document.getElementById("alerts");
    if (list) { list.innerHTML = d.html; tickTimes(list); showEmptyAlerts(); }
  });
  on("commands", function (d) {
    var table = document.getElementById("commands");
    if (table && d.html) { table.innerHTML = d.html; tickTimes(table); }
  });
  on("summary", function (d) { swap("summary", d.html); });
  on("table", function (d) { swap("fleet-table", d.html); });
  on("rows", function (d) {
    Object.keys(d.rows).forEach(function (id) {
      var row = swap("k-" + id, d.rows[id]);
      if (row) row.classList.add("flash");
    });
  });
  on("panel", function (d) { swap("kiosk-panel", d.html); });
  on("history", function (d) {
    var table = document.getElementById("history");
    if (!table) return;
    if (d.replace) { table.innerHTML = d.html; tickTimes(table); return; }
    var placeholder = table.querySelector("tr.placeholder");
    if (placeholder) placeholder.parentNode.removeChild(placeholder);
    table.insertAdjacentHTML("afterbegin", d.html);
    while (table.children.length > 100) table.removeChild(table.lastElementChild);
    if (table.firstElementChild) table.firstElementChild.classList.add("flash");
  });
  on("command", function (d) {
    var row = swap("cmd-" + d.id, d.html);
    if (!row) {
      var table = document.getElementById("commands");
      if (table) {
        var placeholder = table.querySelector("tr.placeholder");
        if (placeholder) placeholder.parentNode.removeChild(placeholder);
        table.insertAdjacentHTML("afterbegin", d.html);
        row = table.firstElementChild;
      }
    }
    if (row) row.classList.add("flash");
    if (d.toast) toast(d.toast, d.level);
  });
})();
