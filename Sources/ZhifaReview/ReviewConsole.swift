import Foundation
import HTTPTypes
import Hummingbird

/// The reviewer console: one self-contained page (no build step, no CDN, works offline).
enum ReviewConsole {
    static var response: Response {
        var h = HTTPFields()
        h[.contentType] = "text/html; charset=utf-8"
        h[.cacheControl] = "no-store"
        h[HTTPField.Name("Content-Security-Policy")!] = "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:"
        return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static let html = #"""
<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>法制审核工作台 · Legal review console</title>
<style>
  :root { --ink:#1d2a3a; --muted:#5b6b7d; --line:#d8dee6; --pass:#1f7a3a; --fail:#b3261e; --human:#9a6700; --na:#6b7280; --accent:#0b5cab; }
  * { box-sizing: border-box; }
  body { margin:0; font: 15px/1.5 system-ui, "PingFang SC", "Noto Sans CJK SC", sans-serif; color:var(--ink); background:#f6f8fa; }
  header { background:#0b3d6e; color:#fff; padding:12px 20px; display:flex; gap:16px; align-items:center; flex-wrap:wrap; }
  header h1 { font-size:18px; margin:0; font-weight:600; }
  header .who { margin-left:auto; font-size:14px; opacity:.9; }
  main { max-width:1180px; margin:0 auto; padding:16px; display:grid; grid-template-columns: 360px 1fr; gap:16px; }
  @media (max-width: 860px) { main { grid-template-columns: 1fr; } }
  section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px; }
  h2 { font-size:16px; margin:0 0 10px; }
  h3 { font-size:14px; margin:14px 0 6px; }
  button { font:inherit; padding:6px 14px; border-radius:6px; border:1px solid var(--accent); background:var(--accent); color:#fff; cursor:pointer; }
  button.secondary { background:#fff; color:var(--accent); }
  button:disabled { opacity:.5; cursor:default; }
  input[type=text], textarea { font:inherit; width:100%; padding:6px 8px; border:1px solid var(--line); border-radius:6px; }
  table { width:100%; border-collapse:collapse; font-size:14px; }
  th, td { text-align:left; padding:6px; border-bottom:1px solid var(--line); vertical-align:top; }
  tr.task { cursor:pointer; }
  tr.task:hover { background:#eef4fb; }
  .badge { display:inline-block; padding:0 6px; border-radius:10px; font-size:12px; border:1px solid currentColor; }
  .overdue { color:var(--fail); } .soon { color:var(--human); }
  .r-pass { color:var(--pass); } .r-fail { color:var(--fail); font-weight:600; } .r-needsHuman { color:var(--human); } .r-notApplicable { color:var(--na); }
  .muted { color:var(--muted); font-size:13px; }
  .timeline { position:relative; height:22px; background:#fbeaea; border:1px solid var(--line); border-radius:4px; margin:4px 0 2px; overflow:hidden; }
  .timeline .seg { position:absolute; top:0; bottom:0; background:#3c9a5f; }
  .timeline .gap { position:absolute; top:0; bottom:0; background:repeating-linear-gradient(45deg,#b3261e,#b3261e 4px,#f3c1bd 4px,#f3c1bd 8px); }
  .timeline .gap.explained { background:repeating-linear-gradient(45deg,#9a6700,#9a6700 4px,#f6e3b4 4px,#f6e3b4 8px); }
  #message { min-height:1.5em; margin:8px 0; }
  #message.error { color:var(--fail); }
  .hidden { display:none; }
  fieldset { border:1px solid var(--line); border-radius:6px; }
</style>
</head>
<body>
<header>
  <h1>法制审核工作台 <span class="muted" style="color:#cfe0f2">Legal review console</span></h1>
  <div class="who" id="me">未登录 · not signed in</div>
</header>
<main>
  <section id="signin-section" style="grid-column: 1 / -1">
    <h2>登录 Sign in</h2>
    <p class="muted">粘贴管理员签发的令牌（<code>zhifa review token --reviewer ID</code>）。Paste the token an operator issued.</p>
    <input type="text" id="token" placeholder="eyJ..." autocomplete="off">
    <p><button id="signin">登录 Sign in</button></p>
  </section>
  <section id="queue-section" class="hidden">
    <h2>审核任务 Queue</h2>
    <p><button id="claim">认领最早的任务 Claim the oldest task</button> <button class="secondary" id="refresh">刷新 Refresh</button></p>
    <div id="message"></div>
    <table><thead><tr><th>案件 Case</th><th>状态 State</th><th>期限 Due</th></tr></thead><tbody id="queue"></tbody></table>
  </section>
  <section id="case-section" class="hidden">
    <h2 id="case-title">案件 Case</h2>
    <div id="case-summary"></div>
    <h3>自动审核结果 Automated findings</h3>
    <table><thead><tr><th>#</th><th>检查 Check</th><th>结果 Result</th><th>理由 Reason</th></tr></thead><tbody id="findings"></tbody></table>
    <h3>执法行为与音像记录 Acts and audio-visual coverage</h3>
    <div id="acts"></div>
    <h3>决定 Decision</h3>
    <div id="decision"></div>
    <h3>审核意见 Opinion</h3>
    <form id="opinion-form">
      <fieldset>
        <label><input type="radio" name="opinion" value="approve" id="opinion-approve"> 同意 Approve</label>
        <label style="margin-left:16px"><input type="radio" name="opinion" value="return" id="opinion-return"> 存在问题 Return with reasons</label>
        <p><textarea id="reasons" rows="3" placeholder="存在问题时必须说明理由 Reasons (required when returning)"></textarea></p>
        <button type="submit" id="submit-opinion">提交意见 Record opinion</button>
        <button type="button" class="secondary" id="renew">续期 Renew lease</button>
      </fieldset>
    </form>
    <div id="opinions"></div>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("zhifa-review-token") || "";
let current = null;

function esc(s) { return String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c])); }
function say(text, error) { const m = $("message"); m.textContent = text; m.className = error ? "error" : ""; }

async function api(method, path, body) {
  const r = await fetch(path, { method, headers: Object.assign({ "Authorization": "Bearer " + token }, body ? { "Content-Type": "application/json" } : {}), body: body ? JSON.stringify(body) : undefined });
  if (r.status === 204) return { status: 204 };
  const data = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(data.detail || data.title || ("HTTP " + r.status)); e.status = r.status; throw e; }
  return data;
}

async function signIn() {
  token = $("token").value.trim() || token;
  try {
    const me = await api("GET", "/v1/review/me");
    sessionStorage.setItem("zhifa-review-token", token);
    $("me").textContent = me.name + " · " + me.agencyName;
    $("signin-section").classList.add("hidden");
    $("queue-section").classList.remove("hidden");
    await loadQueue();
  } catch (e) { $("me").textContent = "登录失败 · " + e.message; }
}

async function loadQueue() {
  const data = await api("GET", "/v1/review/tasks");
  const rows = data.tasks.map(t => {
    const badge = t.overdue ? '<span class="badge overdue">逾期 overdue</span>' : (t.dueSoon ? '<span class="badge soon">即将到期 due soon</span>' : "");
    return `<tr class="task" data-task-id="${esc(t.taskId)}"><td>${esc(t.caseId)}<div class="muted">${esc(t.decisionId)}</div></td>` +
           `<td class="state">${esc(t.state)}${t.claimedBy ? '<div class="muted">' + esc(t.claimedBy) + '</div>' : ""}</td>` +
           `<td>${esc(t.dueDate)}${t.dueProvisional ? "*" : ""} ${badge}</td></tr>`;
  });
  $("queue").innerHTML = rows.join("") || '<tr><td colspan="3" class="muted">队列为空 The queue is empty</td></tr>';
  document.querySelectorAll("tr.task").forEach(tr => tr.addEventListener("click", () => openTask(tr.dataset.taskId)));
}

async function claim() {
  try {
    const t = await api("POST", "/v1/review/tasks/claim");
    if (t.status === 204) { say("没有可认领的任务 Nothing to claim"); return; }
    say("已认领 Claimed " + t.taskId);
    await loadQueue();
    await openTask(t.taskId);
  } catch (e) { say(e.message, true); }
}

function timeline(act) {
  const s = Date.parse(act.startedAt), e = Date.parse(act.endedAt), span = Math.max(1, e - s);
  const pct = (t) => Math.max(0, Math.min(100, (Date.parse(t) - s) / span * 100));
  let html = '<div class="timeline" title="音像覆盖 AV coverage">';
  for (const seg of act.av.segments) { const a = pct(seg.from), b = pct(seg.to); html += `<div class="seg" style="left:${a}%;width:${Math.max(0.5, b - a)}%"></div>`; }
  for (const g of act.av.gaps) { const a = pct(g.from), b = pct(g.to); html += `<div class="gap${g.explained ? " explained" : ""}" style="left:${a}%;width:${Math.max(0.5, b - a)}%" title="${esc(g.reason)}"></div>`; }
  html += "</div>";
  const gaps = act.av.gaps.map(g => `<li class="${g.explained ? "r-needsHuman" : "r-fail"}">中断 gap ${esc(g.from.slice(11,19))}–${esc(g.to.slice(11,19))} (${g.seconds}s) ${g.explained ? "原因 reason: " + esc(g.reason) : "未说明原因 no reason"}</li>`).join("");
  return html + (gaps ? `<ul>${gaps}</ul>` : "");
}

async function openTask(id) {
  try {
    const t = await api("GET", "/v1/review/tasks/" + encodeURIComponent(id));
    current = t;
    const c = t.case || {};
    $("case-section").classList.remove("hidden");
    $("case-title").textContent = "案件 " + c.caseId + " · " + t.decisionId;
    const major = t.classification ? (t.classification.major ? "重大执法决定 major: " + t.classification.reasons.map(r => r.zh).join("；") : "非重大 not major") : "";
    $("case-summary").innerHTML = `<p>${esc(c.matterName)}（${esc(c.matterCode)}）· ${esc(c.procedure)} · 当事人 party: ${esc(c.party ? c.party.name : "")}</p>` +
      `<p class="muted">${esc(major)}</p><p>状态 state: <b id="task-state">${esc(t.state)}</b> · 期限 due ${esc(t.dueDate)}${t.overdue ? ' <span class="badge overdue">逾期 overdue</span>' : ""}</p>`;
    $("findings").innerHTML = (t.findings || []).map(f => `<tr class="finding" data-check="${f.checkId}"><td>${f.checkId}</td><td>${esc(f.check)}</td>` +
      `<td class="r-${esc(f.result)}">${esc(f.result)}</td><td>${esc(f.reasonZh)}<div class="muted">${esc(f.reasonEn)}</div></td></tr>`).join("");
    $("acts").innerHTML = (c.acts || []).map(a => `<div class="act" data-action-id="${esc(a.actionId)}"><b>${esc(a.actionType)}</b> ${esc(a.actionId)} · ${esc(a.startedAt.slice(0,16).replace("T"," "))}–${esc(a.endedAt.slice(11,16))}` +
      `${a.avMandatory ? ' <span class="badge">须全程录像 must be recorded</span>' : ""}<div class="muted">${esc(a.place)} · ${a.documents.map(d => esc(d.docType + " " + d.docNumber)).join("，")}</div>` +
      (a.av.segments.length || a.avMandatory ? timeline(a) : "") + `</div>`).join("");
    $("decision").innerHTML = (c.drafts || []).map(d => `<p>拟决定 draft ${esc(d.draftedAt)}：${esc(d.penalties.join("；"))}<br><span class="muted">${esc(d.legalBasis.join("，"))}</span><br>${esc(d.facts)}</p>`).join("") +
      (c.issued || []).map(i => `<p>已作出 issued ${esc(i.documentNumber)} ${esc(i.issuedAt)}</p>`).join("");
    $("opinions").innerHTML = (t.opinions || []).map(o => `<p class="opinion">${o.opinion === "approve" ? "同意" : "存在问题"} · ${esc(o.reviewerId)} · ${esc(o.at)} ${esc(o.reasons)}</p>`).join("");
    const mine = t.state === "claimed";
    $("submit-opinion").disabled = !mine;
    $("renew").disabled = !mine;
  } catch (e) { say(e.message, true); }
}

async function submitOpinion(ev) {
  ev.preventDefault();
  if (!current) return;
  const chosen = document.querySelector('input[name="opinion"]:checked');
  if (!chosen) { say("请选择审核意见 Choose an opinion", true); return; }
  try {
    const r = await api("POST", "/v1/review/tasks/" + encodeURIComponent(current.taskId) + "/opinion", { opinion: chosen.value, reasons: $("reasons").value });
    say("意见已记录 Opinion recorded: " + r.opinionId);
    await loadQueue();
    await openTask(current.taskId);
  } catch (e) { say(e.message, true); }
}

async function renew() {
  if (!current) return;
  try { const t = await api("POST", "/v1/review/tasks/" + encodeURIComponent(current.taskId) + "/renew"); say("已续期至 Lease until " + t.leaseUntil); }
  catch (e) { say(e.message, true); }
}

$("signin").addEventListener("click", signIn);
$("claim").addEventListener("click", claim);
$("refresh").addEventListener("click", loadQueue);
$("opinion-form").addEventListener("submit", submitOpinion);
$("renew").addEventListener("click", renew);
if (token) signIn();
</script>
</body>
</html>
"""#
}
