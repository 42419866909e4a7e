// nianbao review UI: plain JS, no framework, no build step, no CDN.
// Every piece of report or user text goes into the page through textContent (see `h`), never innerHTML,
// so a report containing <script> shows it as text.
"use strict";

const state = {
  user: null, role: null,
  list: { issuer: "", year: "", status: "", finding_kind: "", sort: "created", order: "desc", page: 1, per_page: 50 },
  doc: null, // {id, review, grid, text, fields: Map(path → field), order: [paths], equations, selected}
};

// ---------- small helpers ----------

/** Build an element; strings become text nodes (escaped by construction). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function show(node) {
  const main = document.getElementById("main");
  main.replaceChildren(node);
}

let noticeTimer = null;
function notice(text, kind) {
  const el = document.getElementById("notice");
  el.textContent = text;
  el.className = kind || "info";
  el.hidden = false;
  clearTimeout(noticeTimer);
  if (kind !== "error") noticeTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

function fmt(v) {
  if (v === null || v === undefined) return "—";
  return String(v);
}

const LEVEL_ZH = { high: "高", medium: "中", low: "低" };
const STATUS_ZH = { to_review: "待审核", reviewed: "已审核" };
const ACTION_ZH = { accept: "确认", edit: "修改", blank: "置空", alternative: "选用候选值" };

class ApiError extends Error {
  constructor(status, body) {
    super(errorText(status, body));
    this.status = status;
    this.body = body;
  }
}

function errorText(status, body) {
  if (status === 401) return "请先登录后再修改（sign in to make changes）";
  if (status === 403) return "没有权限或登录已失效，请重新登录（forbidden: sign in again）";
  const d = body && (body.message_zh || body.detail || body.message_en || body.error);
  if (typeof d === "string") return `出错（${status}）：${d}`;
  if (d && typeof d === "object") return `出错（${status}）：${d.message_zh || d.message || JSON.stringify(d)}`;
  return `出错（${status}）`;
}

function csrf() { return sessionStorage.getItem("nianbao_csrf") || ""; }

async function api(method, url, body) {
  const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf();
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(url, opts);
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// ---------- sign-in ----------

async function loadMe() {
  try {
    const me = await api("GET", "/auth/me");
    state.user = me.user; state.role = me.role;
  } catch (_e) {
    state.user = null; state.role = null;
  }
  renderWho();
}

function renderWho() {
  document.getElementById("who").textContent = state.user ? `${state.user}（${state.role === "admin" ? "管理员" : "审核员"}）` : "未登录";
  document.getElementById("nav-login").hidden = !!state.user;
  document.getElementById("logout").hidden = !state.user;
}

function loginPage() {
  const user = h("input", { name: "username", id: "username", autocomplete: "username", required: true });
  const pass = h("input", { name: "password", id: "password", type: "password", autocomplete: "current-password", required: true });
  const err = h("p", { class: "error", id: "login-error" });
  const form = h("form", { class: "card login", onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      const r = await api("POST", "/auth/login", { username: user.value, password: pass.value });
      sessionStorage.setItem("nianbao_csrf", r.csrf_token || "");
      state.user = r.user; state.role = r.role;
      renderWho();
      location.hash = "#/documents";
    } catch (e) {
      err.textContent = e.status === 401 || e.status === 400 ? "用户名或密码不正确（wrong username or password）" : e.message;
    }
  } },
  h("h1", {}, "登录"),
  h("label", {}, "用户名", user),
  h("label", {}, "密码", pass),
  h("button", { type: "submit", id: "login-submit" }, "登录"),
  err);
  show(form);
  user.focus();
}

async function logout() {
  try { await api("POST", "/auth/logout"); } catch (_e) { /* signed out either way */ }
  sessionStorage.removeItem("nianbao_csrf");
  state.user = null; state.role = null;
  renderWho();
  location.hash = "#/login";
}

// ---------- upload ----------

function uploadPage() {
  const input = h("input", { type: "file", id: "files", multiple: true, accept: ".txt,.md,.html,.htm,.docx,.pdf,.zip" });
  const list = h("ul", { class: "uploads", id: "uploads" });
  const zone = h("div", { class: "dropzone", id: "dropzone", tabindex: "0" },
    h("p", {}, "把年报文件拖到这里，或"), h("label", { class: "button" }, "选择文件", input),
    h("p", { class: "hint" }, "可一次上传多个文件或一个 .zip 压缩包（作为一个批次处理）：.txt .md .html .docx .pdf .zip"));
  // One file: read at once, as before. Several files or a .zip: one batch (POST /batches), followed on its page.
  const start = (files) => {
    const all = [...files];
    if (!all.length) return;
    if (all.length === 1 && !/\.zip$/i.test(all[0].name)) uploadOne(all[0], list);
    else uploadBatch(all, list);
  };
  input.addEventListener("change", () => { start(input.files); input.value = ""; });
  zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (ev) => { ev.preventDefault(); zone.classList.remove("over"); start(ev.dataTransfer.files); });
  show(h("section", { class: "card" }, h("h1", {}, "上传年报"), zone, list,
    h("p", {}, h("a", { href: "#/documents" }, "查看文档列表 →"), " ", h("a", { href: "#/batches" }, "查看批次 →"))));
}

/** Many files (or a zip) as one batch: one request, then the batch's own page follows the reading. */
function uploadBatch(files, list) {
  const bar = h("progress", { max: "100", value: "0" });
  const status = h("span", { class: "upload-status" }, "上传中…");
  const label = files.length === 1 ? files[0].name : `${files.length} 个文件（批次）`;
  const item = h("li", { class: "upload batch-upload" }, h("span", { class: "name", title: files.map((f) => f.name).join("\n") }, label), bar, status);
  list.append(item);
  postFiles("/batches", files, item, bar, status, "登记中…", (body) => body.id, (body) => {
    const href = `#/batches/${encodeURIComponent(body.id)}`;
    status.replaceChildren(`已建立批次：${body.total} 个文件 `, h("a", { href }, "查看进度"));
    if (location.hash === "#/upload") location.hash = href;
  });
}

/** One file, its own progress bar. */
function uploadOne(file, list) {
  const bar = h("progress", { max: "100", value: "0" });
  const status = h("span", { class: "upload-status" }, "上传中…");
  const item = h("li", { class: "upload" }, h("span", { class: "name" }, file.name), bar, status);
  list.append(item);
  postFiles("/extract", [file], item, bar, status, "识别中…", (body) => body.document, (body) => {
    const low = (body.fields || []).filter((f) => f.level === "low").length;
    status.replaceChildren(`完成：${low} 个待核字段，${(body.findings || []).length} 个问题 `,
      h("a", { href: `#/doc/${encodeURIComponent(body.document.id)}` }, "打开"));
  });
}

/** POST `files` as the form's `file` fields, progress on `bar` (XMLHttpRequest: fetch has no
 * upload progress); `waiting` shows once the bytes are sent. An answer `accepted(body)` takes is
 * `shown(body)` on a done item; anything else fails the item with its reason. */
function postFiles(url, files, item, bar, status, waiting, accepted, shown) {
  const form = new FormData();
  for (const f of files) form.append("file", f);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", url);
  xhr.setRequestHeader("X-CSRF-Token", csrf());
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = Math.round((ev.loaded / ev.total) * 100); };
  xhr.upload.onload = () => { bar.value = 100; status.textContent = waiting; };
  xhr.onerror = () => { item.classList.add("failed"); status.textContent = "网络错误"; };
  xhr.onload = () => {
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (_e) { body = null; }
    if (xhr.status >= 200 && xhr.status < 300 && body && accepted(body)) {
      item.classList.add("done");
      shown(body);
    } else {
      item.classList.add("failed");
      status.textContent = errorText(xhr.status, body);
    }
  };
  xhr.send(form);
}

// ---------- document list ----------

const LIST_COLUMNS = [
  ["issuer", "发布机关", "issuer"], ["year", "年度", "year"], ["template", "模板", null],
  ["status", "状态", null], ["low_count", "待核字段", "low"], ["findings_count", "问题", "findings"],
  ["created_at", "上传时间", "created"],
];

async function listPage() {
  const s = state.list;
  const q = new URLSearchParams();
  for (const k of ["issuer", "year", "status", "finding_kind", "sort", "order", "page", "per_page"]) if (s[k] !== "") q.set(k, s[k]);
  const filters = h("form", { class: "filters", id: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    const fd = new FormData(ev.target);
    for (const k of ["issuer", "year", "status", "finding_kind"]) s[k] = String(fd.get(k) || "").trim();
    s.page = 1;
    listPage();
  } },
  h("input", { name: "issuer", placeholder: "发布机关", value: s.issuer }),
  h("input", { name: "year", placeholder: "年度", inputmode: "numeric", size: "6", value: s.year }),
  select("status", s.status, [["", "全部状态"], ["to_review", "待审核"], ["reviewed", "已审核"]]),
  select("finding_kind", s.finding_kind, [["", "全部问题类型"], ["sum_mismatch", "合计不符"], ["missing_cell", "空白单元格"],
    ["extra_cell", "多余单元格"], ["text_table_conflict", "正文与表格矛盾"], ["template_mismatch", "模板不符"],
    ["missing_section", "缺少部分"], ["llm_parser_conflict", "模型与解析不一致"], ["damaged_cell", "单元格损坏"], ["missing_row", "缺少行"]]),
  h("button", { type: "submit" }, "筛选"));
  const gen = routeGen;
  let data;
  try { data = await api("GET", `/documents?${q}`); } catch (e) { if (!stale(gen)) show(h("p", { class: "error" }, e.message)); return; }
  if (stale(gen)) return;
  const head = h("tr", {}, LIST_COLUMNS.map(([, label, sortKey]) => {
    if (!sortKey) return h("th", {}, label);
    const arrow = s.sort === sortKey ? (s.order === "asc" ? " ▲" : " ▼") : "";
    return h("th", { class: "sortable", dataset: { sort: sortKey }, onclick: () => {
      s.order = s.sort === sortKey && s.order === "desc" ? "asc" : "desc";
      s.sort = sortKey; s.page = 1; listPage();
    } }, label + arrow);
  }));
  const rows = (data.items || []).map((d) => h("tr", { class: "doc-row", dataset: { id: d.id } },
    h("td", {}, h("a", { href: `#/doc/${encodeURIComponent(d.id)}` }, d.issuer || d.filename || d.id)),
    h("td", {}, fmt(d.year)), h("td", {}, fmt(d.template)),
    h("td", { class: `status ${d.status}` }, STATUS_ZH[d.status] || fmt(d.status)),
    h("td", { class: d.low_count ? "num lowcount" : "num" }, fmt(d.low_count)),
    h("td", { class: "num" }, fmt(d.findings_count)),
    h("td", {}, fmt(d.created_at).replace("T", " ").slice(0, 16))));
  const pages = Math.max(1, Math.ceil((data.total || 0) / (data.per_page || s.per_page)));
  const pager = h("div", { class: "pager" },
    h("button", { type: "button", disabled: s.page <= 1, onclick: () => { s.page -= 1; listPage(); } }, "上一页"),
    ` 第 ${data.page || s.page} / ${pages} 页，共 ${data.total || 0} 份 `,
    h("button", { type: "button", disabled: s.page >= pages, onclick: () => { s.page += 1; listPage(); } }, "下一页"));
  // Plain links: the browser downloads the file itself (Content-Disposition: attachment), reviewed values included.
  const exportsBar = h("div", { class: "exports", id: "exports" }, "导出全部文档（审核值优先）：",
    h("a", { class: "button", id: "export-xlsx", href: "/exports/xlsx?shape=long", download: true }, "Excel（长表）"),
    h("a", { class: "button", id: "export-xlsx-wide", href: "/exports/xlsx?shape=wide", download: true }, "Excel（宽表）"),
    h("a", { class: "button", id: "export-csv", href: "/exports/csv?shape=long&part=fields", download: true }, "CSV 字段"),
    h("a", { class: "button", id: "export-csv-findings", href: "/exports/csv?shape=long&part=findings", download: true }, "CSV 问题"));
  show(h("section", {}, h("h1", {}, "文档列表"), filters, exportsBar,
    h("table", { class: "doclist", id: "doclist" }, h("thead", {}, head), h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "7" }, "没有文档")))),
    pager));
}

function select(name, value, options) {
  return h("select", { name }, options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

// ---------- equations for the live re-check ----------
//
// Derived from the grid the server sends (GET /schemas/grid), not re-typed here:
//  1. Row totals: a cell whose path ends in ".total" equals the sum of the other cells of the table
//     whose path has the same prefix and one more segment (applications.granted.total =
//     applications.granted.natural_person + …; reviews_and_litigation.<group>.total = upheld + …),
//     whatever the grid's orientation.
//  2. Column totals: the row keyed "total" equals, column by column, the sum of the rows from the
//     first row of its own group down to it, leaving out sub-rows (rows whose group is the label or
//     key of another row of the table); such a parent row equals the sum of its own sub-rows
//     (（六）其他处理 = 1.+2.+3.).
// An equation whose right-hand cells are all null is not checked (nothing printed to check).

function deriveEquations(grid) {
  const eqs = [];
  for (const t of grid.tables || []) {
    const paths = (t.cell_paths || []).flat().filter(Boolean);
    const set = new Set(paths);
    for (const p of paths) {
      if (!p.endsWith(".total")) continue;
      const prefix = p.slice(0, -".total".length) + ".";
      const rhs = paths.filter((q) => q !== p && q.startsWith(prefix) && !q.slice(prefix.length).includes("."));
      if (rhs.length) eqs.push({ kind: "row", lhs: p, rhs, table: t.key });
    }
    const rows = t.rows || [];
    const names = new Map();
    rows.forEach((r, i) => { names.set(r.label, i); names.set(r.key, i); });
    const isSub = (r) => r.group != null && names.has(r.group);
    const column = (i, j) => ((t.cell_paths[i] || [])[j]) || null;
    const ncols = Math.max(0, ...(t.cell_paths || []).map((r) => r.length));
    const addColumnSums = (lhsRow, memberRows) => {
      for (let j = 0; j < ncols; j++) {
        const lhs = column(lhsRow, j);
        const rhs = memberRows.map((i) => column(i, j)).filter(Boolean);
        if (lhs && rhs.length && !rhs.includes(lhs) && set.has(lhs)) eqs.push({ kind: "column", lhs, rhs, table: t.key });
      }
    };
    const ti = rows.findIndex((r) => r.key === "total");
    if (ti > 0 && rows[ti].group != null) {
      const first = rows.findIndex((r) => r.group === rows[ti].group);
      const members = [];
      for (let i = first; i < ti; i++) if (!isSub(rows[i])) members.push(i);
      if (members.length > 1) addColumnSums(ti, members);
    }
    rows.forEach((r, i) => {
      const subs = [];
      rows.forEach((s, k) => { if (k !== i && (s.group === r.label || s.group === r.key)) subs.push(k); });
      if (subs.length) addColumnSums(i, subs);
    });
  }
  return eqs;
}

function numberOf(v) {
  if (v === null || v === undefined || v === "") return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : NaN;
}

/** The equations `path` takes part in, evaluated with `path` set to `draft`. */
function recheck(path, draft) {
  const d = state.doc;
  const val = (p) => (p === path ? numberOf(draft) : numberOf((d.fields.get(p) || {}).value));
  const out = [];
  for (const eq of d.equations) {
    if (eq.lhs !== path && !eq.rhs.includes(path)) continue;
    const terms = eq.rhs.map(val);
    const lhs = val(eq.lhs);
    let verdict;
    if (terms.some(Number.isNaN) || Number.isNaN(lhs)) verdict = "bad";
    else if (terms.every((x) => x === null)) verdict = "skip";
    else if (lhs === null) verdict = "skip";
    else verdict = Math.abs(lhs - terms.reduce((a, x) => a + (x || 0), 0)) < 1e-6 ? "ok" : "fail";
    const sum = terms.reduce((a, x) => a + (Number.isFinite(x) ? x : 0), 0);
    out.push({ eq, lhs, sum, verdict });
  }
  return out;
}

// ---------- document page ----------

async function docPage(id, cell) {
  show(h("p", {}, "加载中…"));
  const gen = routeGen;
  let review;
  try {
    review = await api("GET", `/documents/${encodeURIComponent(id)}/review`);
  } catch (e) { show(h("p", { class: "error" }, e.message)); return; }
  const template = review.template || "2021";
  let grid, text;
  try {
    [grid, text] = await Promise.all([
      api("GET", `/schemas/grid?template=${encodeURIComponent(template)}`),
      api("GET", `/documents/${encodeURIComponent(id)}/text`),
    ]);
  } catch (e) { if (!stale(gen)) show(h("p", { class: "error" }, e.message)); return; }
  if (stale(gen)) return;
  const fields = new Map(review.fields.map((f) => [f.path, f]));
  const gridPaths = (grid.tables || []).flatMap((t) => (t.cell_paths || []).flat().filter(Boolean));
  const inGrid = new Set(gridPaths);
  const order = [...gridPaths.filter((p) => fields.has(p)), ...review.fields.map((f) => f.path).filter((p) => !inGrid.has(p))];
  state.doc = { id, review, grid, text: typeof text === "string" ? text : "", fields, order, equations: deriveEquations(grid), selected: null, cells: new Map() };
  renderDoc();
  const firstLow = lowPaths().find((p) => !fields.get(p).reviewed) || lowPaths()[0] || order[0];
  const want = cell && fields.has(cell) ? cell : firstLow;
  if (want) selectCell(want);
}

function lowPaths() {
  const d = state.doc;
  return d.order.filter((p) => (d.fields.get(p) || {}).level === "low");
}

function findingsByPath() {
  const map = new Map();
  for (const f of state.doc.review.findings || []) {
    if (!f.path) continue;
    if (!map.has(f.path)) map.set(f.path, []);
    map.get(f.path).push(f);
  }
  return map;
}

function renderDoc() {
  const d = state.doc;
  const r = d.review;
  d.cells = new Map();
  const byPath = findingsByPath();
  const tables = (d.grid.tables || []).map((t) => renderTable(t, byPath));
  const others = d.order.filter((p) => !(d.grid.tables || []).some((t) => (t.cell_paths || []).flat().includes(p)));
  const otherList = h("table", { class: "grid others" }, h("tbody", {}, others.map((p) => {
    const f = d.fields.get(p);
    return h("tr", {}, h("th", {}, f.label_zh || p), cellFor(p, byPath));
  })));
  const lows = lowPaths();
  const pending = lows.filter((p) => !d.fields.get(p).reviewed).length;
  const statusBtn = h("button", { type: "button", id: "mark-reviewed", onclick: () => setStatus(r.status === "reviewed" ? "to_review" : "reviewed") },
    r.status === "reviewed" ? "改回待审核" : "标记为已审核");
  const head = h("div", { class: "doc-head" },
    h("h1", {}, fieldValue("meta.issuer") || r.document.filename || d.id, " ", h("small", {}, `${fmt(fieldValue("meta.report_year") ?? "")} 年度 · ${r.template} 模板`)),
    h("span", { class: `status ${r.status}`, id: "doc-status" }, STATUS_ZH[r.status] || r.status),
    h("span", { id: "low-left" }, `待核 ${pending} / ${lows.length}`),
    statusBtn,
    h("button", { type: "button", id: "reextract", onclick: reextract }, "重新识别"),
    h("span", { class: "keys" }, "键盘：j/k 或 ↑↓ 上一个/下一个待核 · Enter 确认 · e 修改 · b 置空 · 1–9 选候选值"));
  const findings = h("section", { class: "findings" }, h("h2", {}, `问题（${(r.findings || []).length}）`),
    h("ul", { id: "findings" }, (r.findings || []).map((f, i) => h("li", { class: "finding", dataset: { index: String(i) } },
      h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); openFinding(f); } }, h("b", {}, f.kind), " ", f.message || "", f.path ? ` （${f.path}）` : "")))));
  const evidence = h("aside", { class: "evidence", id: "evidence" });
  show(h("div", { class: "docpage" }, head,
    h("div", { class: "split" }, h("div", { class: "tables" }, tables, h("h2", {}, "其他字段"), otherList, findings), evidence)));
  d.evidence = evidence;
  if (d.selected) selectCell(d.selected, true);
}

function fieldValue(path) {
  const f = state.doc.fields.get(path);
  return f ? f.value : null;
}

function renderTable(t, byPath) {
  const hasGroups = (t.rows || []).some((r) => r.group);
  const headRows = [];
  if (t.column_groups && t.column_groups.length) {
    headRows.push(h("tr", {}, h("th", { colspan: hasGroups ? "2" : "1", rowspan: "2" }, ""),
      t.column_groups.map((g) => h("th", { colspan: String(g.span || (g.columns || []).length || 1) }, g.label || g.title_zh || g.key || ""))));
    headRows.push(h("tr", {}, (t.columns || []).map((c) => h("th", {}, c.label))));
  } else {
    headRows.push(h("tr", {}, h("th", { colspan: hasGroups ? "2" : "1" }, ""), (t.columns || []).map((c) => h("th", {}, c.label))));
  }
  const body = (t.rows || []).map((row, i) => {
    const cells = [];
    if (hasGroups) {
      const prev = i > 0 ? t.rows[i - 1].group : undefined;
      if (row.group && row.group !== prev) {
        let span = 1;
        while (i + span < t.rows.length && t.rows[i + span].group === row.group) span++;
        cells.push(h("th", { class: "group", rowspan: String(span) }, row.group));
      } else if (!row.group) {
        cells.push(h("th", { class: "group" }, ""));
      }
    }
    cells.push(h("th", { class: "rowlabel", title: row.label }, row.label));
    for (const p of (t.cell_paths[i] || [])) cells.push(p ? cellFor(p, byPath) : h("td", { class: "nocell" }, ""));
    return h("tr", { dataset: { row: row.key } }, cells);
  });
  return h("section", { class: "table", dataset: { table: t.key } }, h("h2", {}, t.title_zh || t.key),
    h("table", { class: "grid" }, h("thead", {}, headRows), h("tbody", {}, body)));
}

function cellFor(path, byPath) {
  const d = state.doc;
  const f = d.fields.get(path);
  if (!f) return h("td", { class: "nocell" }, "");
  const cls = ["cell", `lv-${f.level}`];
  if (f.reviewed) cls.push("reviewed");
  if (f.disagrees) cls.push("disagrees");
  if (byPath.has(path)) cls.push("has-finding");
  const td = h("td", { class: cls.join(" "), tabindex: "-1", dataset: { path },
    title: `${f.label_zh || path}：${fmt(f.value)}（${LEVEL_ZH[f.level] || f.level}${f.reviewed ? "，已审核" : ""}）`,
    onclick: () => selectCell(path) },
  h("span", { class: "v" }, fmt(f.value)), h("span", { class: "lv" }, f.reviewed ? "✓" : LEVEL_ZH[f.level] || ""));
  d.cells.set(path, td);
  return td;
}

function selectCell(path, keepScroll) {
  const d = state.doc;
  if (!d || !d.fields.has(path)) return;
  if (d.selected && d.cells.get(d.selected)) d.cells.get(d.selected).classList.remove("selected");
  d.selected = path;
  const td = d.cells.get(path);
  if (td) {
    td.classList.add("selected");
    if (!keepScroll) td.scrollIntoView({ block: "nearest", inline: "nearest" });
  }
  renderEvidence();
}

/** The report text with one span marked; three text nodes, so nothing in the report is parsed as HTML. */
function textWithSpan(span) {
  const text = state.doc.text;
  const pre = h("pre", { class: "report-text", id: "report-text" });
  if (!span || span.length !== 2) { pre.append(text); return { pre, mark: null }; }
  const [a, b] = span;
  const mark = h("mark", { id: "span-mark" }, text.slice(a, b) || "▯");
  pre.append(text.slice(0, a), mark, text.slice(b));
  return { pre, mark };
}

/** Scroll only the text box (not the page or the panel) so the marked span sits in its middle. */
function scrollToMark(pre, mark) {
  if (!mark) return;
  pre.scrollTop = Math.max(0, mark.offsetTop - pre.clientHeight / 2); // pre is position: relative
}

const PAGE_SCALE = 1.5; // pixels per PDF point of the page image (the server caps it at 3)

/** The PDF page the cell was read from with the cell's box drawn over it. The box is placed in
 *  percent of the page, so it scales with the image; the view scrolls to it once shown. */
function pageView(box) {
  const d = state.doc;
  const [x0, y0, x1, y1] = box.bbox;
  const src = `/documents/${encodeURIComponent(d.id)}/pages/${encodeURIComponent(box.page)}.png?scale=${PAGE_SCALE}`;
  const width = box.page_width * PAGE_SCALE;
  const height = box.page_height * PAGE_SCALE;
  const view = h("div", { class: "page-view", id: "page-view" });
  const sheet = h("div", { class: "page-sheet" });
  const img = h("img", { id: "page-image", src, alt: `第 ${box.page} 页`, decoding: "async" });
  const mark = h("div", { class: "page-box", id: "page-box", title: "该单元格在原页面上的位置" });
  // CSSOM, not style attributes: the CSP allows no inline styles.
  sheet.style.width = `${width}px`;
  sheet.style.height = `${height}px`;
  mark.style.left = `${(x0 / box.page_width) * 100}%`;
  mark.style.top = `${(y0 / box.page_height) * 100}%`;
  mark.style.width = `${((x1 - x0) / box.page_width) * 100}%`;
  mark.style.height = `${((y1 - y0) / box.page_height) * 100}%`;
  img.addEventListener("error", () => view.replaceChildren(h("p", { class: "hint", id: "page-missing" }, "无法显示原页面图像（原文件未保存或不是 PDF）")));
  sheet.append(img, mark);
  view.append(sheet);
  const scroll = () => {
    view.scrollTop = Math.max(0, ((y0 + y1) / 2) * PAGE_SCALE - view.clientHeight / 2);
    view.scrollLeft = Math.max(0, ((x0 + x1) / 2) * PAGE_SCALE - view.clientWidth / 2);
  };
  const head = h("h3", {}, `原页面（第 ${box.page} 页）`, " ", h("a", { href: src, target: "_blank", rel: "noopener", class: "hint" }, "查看整页"));
  return { node: h("div", { class: "page-evidence" }, head, view), scroll };
}

function renderEvidence(message) {
  const d = state.doc;
  const f = d.fields.get(d.selected);
  if (!f) return;
  const sources = f.sources || {};
  const readers = Object.entries(sources).filter(([k]) => k !== "alternatives");
  const alts = alternatives(f);
  const related = recheck(f.path, f.value);
  const cellFindings = (d.review.findings || []).filter((x) => x.path === f.path || f.path.startsWith(`${x.path}.`));
  const { pre, mark } = textWithSpan(f.span);
  const page = f.box ? pageView(f.box) : null;
  const history = h("ol", { class: "history", id: "history" }, h("li", {}, "加载中…"));
  const panel = h("div", {},
    h("h2", { id: "sel-label" }, f.label_zh || f.path),
    h("p", { class: "path" }, f.path),
    message ? h("p", { class: "error", id: "conflict" }, message) : null,
    h("p", { class: "value-line" }, "值：", h("b", { id: "sel-value" }, fmt(f.value)),
      ` · 置信度 ${LEVEL_ZH[f.level] || f.level}（${typeof f.confidence === "number" ? f.confidence.toFixed(2) : "—"}）`,
      f.reviewed ? h("span", { class: "badge reviewed" }, "已审核") : null,
      f.disagrees ? h("span", { class: "badge disagrees" }, "新识别结果与审核值不同") : null,
      ` · 版本 ${fmt(f.version)}`),
    f.flags && f.flags.length ? h("p", { class: "flags" }, "标记：", f.flags.join("、")) : null,
    h("div", { class: "readers" }, h("h3", {}, "各读取器的结果"),
      readers.length ? h("ul", {}, readers.map(([k, v]) => h("li", {}, `${{ parser: "表格解析", llm: "模型", text: "正文" }[k] || k}：`, h("b", {}, fmt(v))))) : h("p", {}, "—"),
      alts.length ? h("div", { class: "alts", id: "alts" }, "候选值：", alts.map((v, i) =>
        h("button", { type: "button", class: "alt", onclick: () => write("alternative", v) }, `${i + 1}  ${fmt(v)}`))) : null),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "btn-accept", onclick: () => write("accept") }, "确认 Enter"),
      h("button", { type: "button", id: "btn-edit", onclick: startEdit }, "修改 e"),
      h("button", { type: "button", id: "btn-blank", onclick: () => write("blank") }, "置空 b")),
    h("div", { id: "editor" }),
    related.length ? h("div", { class: "checks", id: "checks" }, h("h3", {}, "所在行列的合计"), checkList(related)) : null,
    cellFindings.length ? h("ul", { class: "cell-findings" }, cellFindings.map((x) => h("li", {}, h("b", {}, x.kind), " ", x.message || ""))) : null,
    page ? page.node : null,
    h("h3", {}, "原文"), pre,
    h("h3", {}, "修改历史"), history);
  d.evidence.replaceChildren(panel);
  if (page) page.scroll();
  scrollToMark(pre, mark);
  loadHistory(f.path, history);
}

function alternatives(f) {
  const a = (f.sources || {}).alternatives;
  if (!Array.isArray(a)) return [];
  return a.filter((v) => String(v) !== String(f.value)).slice(0, 9);
}

function checkList(results) {
  const d = state.doc;
  const label = (p) => (d.fields.get(p) || {}).label_zh || p;
  return h("ul", {}, results.map(({ eq, lhs, sum, verdict }) => h("li", { class: `check ${verdict}` },
    { ok: "✓ ", fail: "✗ ", skip: "· ", bad: "? " }[verdict],
    `${eq.kind === "row" ? "行合计" : "列合计"}：${label(eq.lhs)} = ${fmt(lhs)}，各项之和 = ${sum}`,
    verdict === "fail" ? `（差 ${lhs - sum}）` : "", verdict === "bad" ? "（不是数字）" : "")));
}

async function loadHistory(path, list) {
  try {
    const rows = await api("GET", `/documents/${encodeURIComponent(state.doc.id)}/fields/${encodeURIComponent(path)}/history`);
    if (state.doc.selected !== path) return;
    list.replaceChildren(...(rows.length ? rows.map((r) => h("li", { class: "hist" },
      `${fmt(r.at).replace("T", " ").slice(0, 19)} ${r.user || "—"} ${ACTION_ZH[r.action] || r.action}：${fmt(r.old)} → ${fmt(r.new)}（版本 ${fmt(r.version)}）`)) : [h("li", {}, "尚无修改")]));
  } catch (e) {
    list.replaceChildren(h("li", { class: "error" }, e.message));
  }
}

function startEdit() {
  const d = state.doc;
  const f = d.fields.get(d.selected);
  const editor = document.getElementById("editor");
  const input = h("input", { id: "edit-input", value: f.value === null ? "" : String(f.value), autocomplete: "off" });
  const live = h("div", { id: "live-check" });
  const update = () => {
    const res = recheck(f.path, input.value.trim());
    live.replaceChildren(res.length ? checkList(res) : h("p", {}, "此单元格不在任何合计中"));
  };
  input.addEventListener("input", update);
  input.addEventListener("keydown", (ev) => {
    ev.stopPropagation();
    if (ev.key === "Enter") { ev.preventDefault(); write("edit", parseValue(input.value, f)); }
    if (ev.key === "Escape") { ev.preventDefault(); editor.replaceChildren(); }
  });
  editor.replaceChildren(h("label", {}, "新值（Enter 保存，Esc 取消）", input), h("h3", {}, "实时核对"), live);
  update();
  input.focus();
  input.select();
}

function parseValue(raw, f) {
  const v = raw.trim();
  if (v === "") return null;
  if (typeof f.value === "string") return v;
  const n = Number(v);
  return Number.isFinite(n) && /^-?\d+(\.\d+)?$/.test(v) ? n : v;
}

async function write(action, value) {
  const d = state.doc;
  const path = d.selected;
  const f = d.fields.get(path);
  const body = { action, version: f.version };
  if (action === "edit" || action === "alternative") body.value = value;
  try {
    const updated = await api("PATCH", `/documents/${encodeURIComponent(d.id)}/fields/${encodeURIComponent(path)}`, body);
    d.fields.set(path, { ...f, ...updated });
    replaceCell(path);
    notice(`已保存：${f.label_zh || path} = ${fmt(updated.value)}`, "ok");
    if (action !== "edit") moveLow(1, true);
    else renderEvidence();
  } catch (e) {
    if (e.status === 409) {
      const current = e.body && e.body.field;
      if (current) { d.fields.set(path, { ...f, ...current }); replaceCell(path); }
      const msg = `冲突：此字段已被他人修改（当前值 ${fmt(current && current.value)}，版本 ${fmt(current && current.version)}）。你的修改没有保存，请查看后重试。`;
      notice(msg, "error");
      renderEvidence(msg);
    } else {
      notice(e.message, "error");
    }
  }
}

function replaceCell(path) {
  const d = state.doc;
  const old = d.cells.get(path);
  if (!old) return;
  const cell = cellFor(path, findingsByPath());
  old.replaceWith(cell);
  if (d.selected === path) cell.classList.add("selected");
  const lows = lowPaths();
  const el = document.getElementById("low-left");
  if (el) el.textContent = `待核 ${lows.filter((p) => !d.fields.get(p).reviewed).length} / ${lows.length}`;
}

/** Next/previous low cell in grid order; after a write, prefer one not yet reviewed. */
function moveLow(step, unreviewedFirst) {
  const d = state.doc;
  let lows = lowPaths();
  if (unreviewedFirst) {
    const open = lows.filter((p) => !d.fields.get(p).reviewed || p === d.selected);
    if (open.length > 1) lows = open;
  }
  if (!lows.length) { notice("本文档没有待核字段", "info"); renderEvidence(); return; }
  const i = lows.indexOf(d.selected);
  const next = i < 0 ? (step > 0 ? 0 : lows.length - 1) : (i + step + lows.length) % lows.length;
  selectCell(lows[next]);
}

function openFinding(f) {
  const d = state.doc;
  if (f.path && d.fields.has(f.path)) { selectCell(f.path); return; }
  const cells = [...d.cells.keys()].filter((p) => f.path && p.startsWith(`${f.path}.`));
  for (const c of d.cells.values()) c.classList.remove("finding-hit");
  for (const p of cells) d.cells.get(p).classList.add("finding-hit");
  if (cells.length) d.cells.get(cells[0]).scrollIntoView({ block: "nearest" });
  const span = (f.spans || [])[0] || null;
  const { pre, mark } = textWithSpan(span);
  d.evidence.replaceChildren(h("div", {}, h("h2", {}, f.kind), h("p", {}, f.message || ""), h("p", { class: "path" }, f.path || ""), h("h3", {}, "原文"), pre));
  scrollToMark(pre, mark);
}

async function setStatus(status) {
  const d = state.doc;
  try {
    await api("POST", `/documents/${encodeURIComponent(d.id)}/status`, { status });
    d.review.status = status;
    renderDoc();
    notice(status === "reviewed" ? "已标记为已审核" : "已改回待审核", "ok");
  } catch (e) { notice(e.message, "error"); }
}

async function reextract() {
  const d = state.doc;
  try {
    await api("POST", `/documents/${encodeURIComponent(d.id)}/reextract`);
    notice("已重新识别；审核值保留，不一致处以橙色标出", "ok");
    docPage(d.id);
  } catch (e) { notice(e.message, "error"); }
}

// ---------- review queue ----------

/** path → "表标题 · 行 · 列" from the server's grid (labels are never re-typed here). */
function gridLabels(grid) {
  const labels = new Map();
  for (const t of grid.tables || []) {
    (t.rows || []).forEach((row, i) => {
      (t.cell_paths[i] || []).forEach((p, j) => {
        if (!p) return;
        const col = (t.columns || [])[j];
        labels.set(p, [t.title_zh || t.key, row.group, row.label, col && col.label].filter(Boolean).join(" · "));
      });
    });
  }
  return labels;
}

const QUEUE_LIMIT = 500;

/** The low fields no one has reviewed yet, across documents, lowest confidence first (the server's order). */
async function queuePage() {
  show(h("p", {}, "加载中…"));
  const gen = routeGen;
  let items, docs;
  try {
    [items, docs] = await Promise.all([
      api("GET", `/review/queue?limit=${QUEUE_LIMIT}&level=low`),
      api("GET", "/documents?per_page=500&sort=created&order=desc"),
    ]);
  } catch (e) { if (!stale(gen)) show(h("p", { class: "error" }, e.message)); return; }
  if (stale(gen)) return;
  const lows = items || []; // the server filtered them (level=low)
  const byId = new Map((docs.items || []).map((d) => [d.id, d]));
  const templates = [...new Set(lows.map((i) => String((byId.get(i.document_id) || {}).template || "2021")))];
  const labels = new Map();
  await Promise.all(templates.map(async (t) => {
    try { labels.set(t, gridLabels(await api("GET", `/schemas/grid?template=${encodeURIComponent(t)}`))); }
    catch (_e) { labels.set(t, new Map()); } // an unknown template: show the path alone
  }));
  if (stale(gen)) return;
  const rows = lows.map((i, n) => {
    const d = byId.get(i.document_id) || {};
    const label = (labels.get(String(d.template || "2021")) || new Map()).get(i.path) || i.path;
    const href = `#/doc/${encodeURIComponent(i.document_id)}?cell=${encodeURIComponent(i.path)}`;
    return h("tr", { class: "queue-row", dataset: { id: i.document_id, path: i.path } },
      h("td", { class: "num" }, String(n + 1)),
      h("td", {}, h("a", { class: "q-link", href }, d.issuer || d.filename || i.document_id),
        d.issuer && d.filename ? h("p", { class: "path" }, d.filename) : null), // same issuer, other files
      h("td", {}, fmt(d.year)),
      h("td", {}, label, h("p", { class: "path" }, i.path)),
      h("td", { class: "num" }, fmt(i.value)),
      h("td", { class: "num conf" }, typeof i.confidence === "number" ? i.confidence.toFixed(2) : "—"));
  });
  const more = lows.length >= QUEUE_LIMIT ? h("p", { class: "hint" }, `只显示置信度最低的 ${QUEUE_LIMIT} 个低置信度字段；审核后再刷新可看到更多。`) : null;
  show(h("section", {}, h("h1", {}, `待核队列（${lows.length}）`),
    h("p", { class: "keys" }, "键盘：j/k 或 ↑↓ 上一个/下一个 · Enter 打开该文档并选中此单元格"),
    more,
    h("table", { class: "doclist queue", id: "queue" },
      h("thead", {}, h("tr", {}, ["#", "文档", "年度", "字段", "值", "置信度"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "6", id: "queue-empty" }, "没有待核的低置信度字段"))))));
  const first = document.querySelector("#queue a.q-link");
  if (first) first.focus();
}

function moveQueue(step) {
  const links = [...document.querySelectorAll("#queue a.q-link")];
  if (!links.length) return;
  const i = links.indexOf(document.activeElement);
  const next = i < 0 ? 0 : Math.min(links.length - 1, Math.max(0, i + step));
  links[next].focus();
  links[next].closest("tr").scrollIntoView({ block: "nearest" });
}

document.addEventListener("keydown", (ev) => {
  if (location.hash !== "#/queue" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const tag = (ev.target && ev.target.tagName) || "";
  if (["INPUT", "TEXTAREA", "SELECT"].includes(tag)) return;
  if (ev.key === "j" || ev.key === "ArrowDown") { ev.preventDefault(); moveQueue(1); }
  else if (ev.key === "k" || ev.key === "ArrowUp") { ev.preventDefault(); moveQueue(-1); }
});

// ---------- keyboard ----------

document.addEventListener("keydown", (ev) => {
  const d = state.doc;
  if (!d || !location.hash.startsWith("#/doc/") || !d.selected) return;
  const tag = (ev.target && ev.target.tagName) || "";
  if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const f = d.fields.get(d.selected);
  if (ev.key === "j" || ev.key === "ArrowDown" || ev.key === "ArrowRight") { ev.preventDefault(); moveLow(1); }
  else if (ev.key === "k" || ev.key === "ArrowUp" || ev.key === "ArrowLeft") { ev.preventDefault(); moveLow(-1); }
  else if (ev.key === "Enter") { ev.preventDefault(); write("accept"); }
  else if (ev.key === "e") { ev.preventDefault(); startEdit(); }
  else if (ev.key === "b") { ev.preventDefault(); write("blank"); }
  else if (/^[1-9]$/.test(ev.key)) {
    const alts = alternatives(f);
    const n = Number(ev.key) - 1;
    if (n < alts.length) { ev.preventDefault(); write("alternative", alts[n]); }
  }
});

// ---------- batches ----------

const BATCH_STATUS_ZH = { queued: "排队中", running: "处理中", interrupted: "已中断", done: "已完成" };
const ITEM_STATUS_ZH = { queued: "排队中", running: "处理中", succeeded: "成功", refused: "已拒绝", failed: "失败", skipped: "已跳过（此前已读取）" };
const ITEM_ORDER = { refused: 0, failed: 1, running: 2, queued: 3, succeeded: 4, skipped: 5 };
const BATCH_POLL_MS = 1000;
const BATCH_ROWS_SHOWN = 1000; // refused and failed first, so those are always in view
const BATCH_ITEMS_EVERY_POLL = 500; // up to this many files, the items come with every poll
const BATCH_ITEMS_EVERY_MS = 5000; // beyond, at most this often while the batch runs

function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString("zh-CN", { hour12: false });
}

function countsText(c) {
  return `成功 ${c.succeeded} · 拒绝 ${c.refused} · 失败 ${c.failed} · 跳过 ${c.skipped}` +
    (c.queued + c.running ? ` · 待处理 ${c.queued + c.running}` : "");
}

/** An interrupted batch names the batch a re-run of its command started to go on with it. */
function successor(b) {
  if (!b.continued_by) return "";
  return h("span", { class: "successor" }, "，已由 ",
    h("a", { href: `#/batches/${encodeURIComponent(b.continued_by)}` }, b.continued_by), " 接续");
}

/** What an interrupted batch's reader should do next. */
function interruptedHint(b) {
  if (b.status !== "interrupted") return "";
  return b.continued_by ? "" : "命令行批次在完成前被中断；再次运行同一条 nianbao batch 命令即可继续，已读取的文件会被跳过。";
}

async function batchesPage() {
  show(h("p", {}, "加载中…"));
  const gen = routeGen;
  let data;
  try { data = await api("GET", "/batches?limit=200"); } catch (e) { if (!stale(gen)) show(h("p", { class: "error" }, e.message)); return; }
  if (stale(gen)) return;
  const rows = (data.batches || []).map((b) => h("tr", { class: "batch-row", dataset: { id: b.id } },
    h("td", {}, h("a", { href: `#/batches/${encodeURIComponent(b.id)}` }, b.id)),
    h("td", { class: `bstatus ${b.status}` }, BATCH_STATUS_ZH[b.status] || b.status, successor(b)),
    h("td", {}, h("progress", { max: String(Math.max(1, b.total)), value: String(b.done) }), ` ${b.done}/${b.total}`),
    h("td", {}, countsText(b.counts)),
    h("td", {}, b.origin === "cli" ? "命令行" : "网页/接口"),
    h("td", {}, when(b.created_at))));
  show(h("section", {}, h("h1", {}, `批次（${rows.length}）`),
    h("table", { class: "doclist batches", id: "batches" },
      h("thead", {}, h("tr", {}, ["批次", "状态", "进度", "结果", "来源", "创建时间"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "6" }, "还没有批次：在“上传”页选择多个文件或一个 .zip"))))));
}

/** One batch: a progress bar and its files, refused and failed first, polled about every second until done. */
async function batchPage(id) {
  const gen = routeGen;
  const title = h("h1", {}, `批次 ${id}`);
  const bar = h("progress", { id: "batch-progress", max: "1", value: "0" });
  const summary = h("span", { id: "batch-summary" }, "加载中…");
  const next = h("span", { id: "batch-successor" });
  const hint = h("p", { class: "hint", id: "batch-interrupted" });
  const filter = select("status", "", [["", "全部状态"], ...Object.entries(ITEM_STATUS_ZH)]);
  filter.id = "batch-filter";
  const body = h("tbody", {});
  const more = h("p", { class: "hint", id: "batch-more" });
  const table = h("table", { class: "doclist batch-items", id: "batch-items" },
    h("thead", {}, h("tr", {}, ["#", "文件", "状态", "代码", "原因", "文档"].map((c) => h("th", {}, c)))), body);
  let last = null;
  const paint = () => {
    if (!last) return;
    const want = filter.value;
    const all = (last.items || []).filter((i) => !want || i.status === want)
      .sort((a, b) => (ITEM_ORDER[a.status] - ITEM_ORDER[b.status]) || (a.position - b.position));
    const items = all.slice(0, BATCH_ROWS_SHOWN);
    more.textContent = all.length > items.length ? `只显示前 ${items.length} 个（共 ${all.length} 个）；可按状态筛选。` : "";
    body.replaceChildren(...(items.length ? items.map((i) => h("tr", { class: `batch-item ${i.status}`, dataset: { status: i.status } },
      h("td", { class: "num" }, String(i.position)),
      h("td", { class: "fname" }, i.filename),
      h("td", { class: `istatus ${i.status}` }, ITEM_STATUS_ZH[i.status] || i.status),
      h("td", { class: "path" }, i.code || ""),
      h("td", { class: "reason", title: i.reason_en || null }, i.reason_zh || ""),
      h("td", {}, i.document_id ? h("a", { class: "doc-link", href: `#/doc/${encodeURIComponent(i.document_id)}` }, "打开") : "")))
      : [h("tr", {}, h("td", { colspan: "6" }, "没有符合条件的文件"))]));
  };
  filter.addEventListener("change", paint);
  show(h("section", {}, title,
    h("div", { class: "batch-head" }, bar, summary, next), hint,
    h("div", { class: "filters" }, h("label", {}, "按状态筛选 ", filter), h("a", { href: "#/batches" }, "← 全部批次")),
    table, more));
  // A big batch's items are fetched again only when its progress moved and a few seconds passed
  // (or it is done); the progress itself every second (GET without items).
  const url = `/batches/${encodeURIComponent(id)}`;
  let itemsAt = 0, itemsDone = -1;
  for (;;) {
    let due = true;
    try {
      const big = last && last.total > BATCH_ITEMS_EVERY_POLL;
      const head = big ? await api("GET", `${url}?items=false`) : null;
      due = !head || head.status === "done" || head.status === "interrupted" ||
        (head.done !== itemsDone && performance.now() - itemsAt > BATCH_ITEMS_EVERY_MS);
      if (due) { last = await api("GET", url); itemsAt = performance.now(); itemsDone = last.done; }
      else last = { ...head, items: last.items };
    }
    catch (e) { if (!stale(gen)) show(h("p", { class: "error" }, e.message)); return; }
    if (stale(gen)) return;
    bar.max = Math.max(1, last.total);
    bar.value = last.done;
    title.textContent = `批次 ${last.id}：${BATCH_STATUS_ZH[last.status] || last.status}`;
    summary.textContent = ` ${last.done}/${last.total} · ${countsText(last.counts)} · 创建于 ${when(last.created_at)}`;
    summary.dataset.status = last.status;
    next.replaceChildren(successor(last));
    hint.textContent = interruptedHint(last);
    if (due) paint();
    // Interrupted with nothing running: nothing moves until the command runs again.
    if (last.status === "done" || (last.status === "interrupted" && !last.counts.running)) return;
    await new Promise((resolve) => setTimeout(resolve, BATCH_POLL_MS));
    if (stale(gen)) return;
  }
}

// ---------- routing ----------

// Each navigation gets a number; a page whose data arrives after the reader moved on is dropped
// (else a slow list could paint over the upload page opened meanwhile).
let routeGen = 0;
const stale = (gen) => gen !== routeGen;

async function route() {
  routeGen += 1;
  const hash = location.hash || "#/documents";
  document.getElementById("notice").hidden = true;
  if (!hash.startsWith("#/doc/")) state.doc = null;
  if (hash === "#/login") loginPage();
  else if (hash === "#/upload") uploadPage();
  else if (hash === "#/queue") await queuePage();
  else if (hash === "#/batches") await batchesPage();
  else if (hash.startsWith("#/batches/")) await batchPage(decodeURIComponent(hash.slice("#/batches/".length)));
  else if (hash.startsWith("#/doc/")) {
    // #/doc/<id> or #/doc/<id>?cell=<path> (the queue links straight to a cell).
    const [idPart, query] = hash.slice("#/doc/".length).split("?", 2);
    await docPage(decodeURIComponent(idPart), new URLSearchParams(query || "").get("cell"));
  }
  else await listPage();
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("logout").addEventListener("click", logout);
  await loadMe();
  route();
});
