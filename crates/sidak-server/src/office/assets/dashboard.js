// sidak central-office dashboard: plain JavaScript, no build step.
// The session token lives in sessionStorage (gone when the tab closes). Every value
// that comes from the data is put into the page with textContent, never as HTML.
'use strict';

const TOKEN_KEY = 'sidak.session';
const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat('id-ID');
const KINDS = { worker: 'Pekerja / Worker', company: 'Perusahaan / Company', visit: 'Kunjungan / Visit', finding: 'Temuan / Finding' };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'onclick') node.addEventListener('click', v);
    else if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function flash(message, isError) {
  const f = $('flash');
  f.textContent = message;
  f.className = isError ? 'error' : '';
  f.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { f.hidden = true; }, 5000);
}

// Times as the office reads them, whatever the computer's clock is set to: South Sulawesi's
// (WITA, UTC+8), `2026-12-04 09:47 WITA`, as the command line and the report print them.
const WITA = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Makassar', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });

function when(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  const p = Object.fromEntries(WITA.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} WITA`;
}

// Who is who, from device health: officers and phones are named, not shown as ids.
const people = { officers: new Map(), devices: new Map() };

function remember(devices) {
  for (const d of devices) {
    if (d.officer_name) people.officers.set(d.officer_id, d.officer_name);
    people.devices.set(d.device_id, d);
  }
}

function officerName(id) {
  if (!id) return '—';
  return people.officers.get(id) || id;
}

function deviceName(id) {
  const d = people.devices.get(id);
  return (d && d.name) || `perangkat / device ${String(id).slice(0, 8)}`;
}

// The officer who wrote with a device (its officer when the answer does not say).
function writerName(officerId, deviceId) {
  const d = people.devices.get(deviceId);
  return officerName(officerId || (d && d.officer_id));
}

function show(v) {
  if (v === null || v === undefined) return '—';
  if (Array.isArray(v)) return v.length ? v.map(show).join(' | ') : '—';
  return String(v);
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => null);
  if (res.status === 401) {
    logout('Sesi berakhir, silakan masuk lagi / Session ended, please log in again');
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $('app').hidden = true;
  $('who').hidden = true;
  $('login').hidden = false;
  if (message) {
    $('login-error').textContent = message;
    $('login-error').hidden = false;
  }
}

async function login(event) {
  event.preventDefault();
  $('login-error').hidden = true;
  $('login-button').disabled = true;
  try {
    const res = await fetch('/v1/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: $('username').value, password: $('password').value }),
    });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new ApiError(res.status, data);
    if (data.role === 'officer') throw new ApiError(403, { message: 'Akun petugas lapangan tidak dapat membuka dasbor / Field officers use the app, not the dashboard' });
    sessionStorage.setItem(TOKEN_KEY, data.token);
    $('password').value = '';
    await start();
  } catch (e) {
    $('login-error').textContent = e.message;
    $('login-error').hidden = false;
  } finally {
    $('login-button').disabled = false;
  }
}

async function start() {
  const me = await api('GET', '/v1/me');
  $('who-name').textContent = `${me.username} (${me.role})`;
  $('login').hidden = true;
  $('app').hidden = false;
  $('who').hidden = false;
  await refresh();
  const linked = recordInHash();
  if (linked) await openRecord(linked);
}

// A record's page is addressable: `#record=<id>` opens it (a link a supervisor can share).
function recordInHash() {
  const m = /^#record=([0-9a-fA-F-]{36})$/.exec(window.location.hash);
  return m ? m[1] : null;
}

async function refresh() {
  // Devices first: the other lists name the officers from them.
  const results = [
    ...await Promise.allSettled([loadDevices()]),
    ...await Promise.allSettled([loadOverview(), loadCoverage(), loadConflicts(), loadDuplicates(), loadReview(), loadCases(), loadSetAside()]),
  ];
  const failed = results.find((r) => r.status === 'rejected');
  if (failed && failed.reason.status !== 401) flash(failed.reason.message, true);
}

async function loadOverview() {
  const o = await api('GET', '/v1/office/overview');
  const set = (id, n) => { $(id).textContent = fmt.format(n); };
  set('stat-workers', o.workers);
  set('stat-companies', o.companies);
  set('stat-visits', o.visits);
  set('stat-conflicts', o.conflicts);
  set('stat-duplicates', o.duplicate_groups);
  set('stat-review', o.awaiting_review);
  set('stat-overdue', o.findings_overdue);
  set('stat-cancelled', o.cancelled_with_findings);
  set('stat-setaside', o.set_aside);
  set('stat-devices', o.devices);
}

function shortName(name) {
  return (name || '').replace(/^Kabupaten /, 'Kab. ').replace(/^Kota /, 'Kota ');
}

function pct(x) {
  return `${(x * 100).toLocaleString('id-ID', { maximumFractionDigits: 1 })}%`;
}

async function loadCoverage() {
  const report = await api('GET', '/v1/office/coverage?region=73');
  const areas = report.areas.filter((a) => a.code.length === 4);
  const max = Math.max(1, ...areas.map((a) => a.workers.total));
  const NS = 'http://www.w3.org/2000/svg';
  const rowH = 16, labelW = 190, barW = 330, width = labelW + barW + 60;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${areas.length * rowH + 4}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'Pekerja terdaftar per kabupaten/kota / Workers registered per regency');
  areas.forEach((a, i) => {
    const y = i * rowH + 2;
    const label = document.createElementNS(NS, 'text');
    label.setAttribute('x', labelW - 6);
    label.setAttribute('y', y + 11);
    label.setAttribute('text-anchor', 'end');
    label.textContent = shortName(a.name) || a.code;
    const bar = document.createElementNS(NS, 'rect');
    const w = a.workers.total ? Math.max(2, (a.workers.total / max) * barW) : 2;
    bar.setAttribute('x', labelW);
    bar.setAttribute('y', y + 2);
    bar.setAttribute('width', w);
    bar.setAttribute('height', rowH - 4);
    bar.setAttribute('class', a.workers.total ? 'bar' : 'zero');
    bar.setAttribute('data-code', a.code);
    const title = document.createElementNS(NS, 'title');
    title.textContent = `${a.name}: ${a.workers.total} pekerja, ${a.companies.total} perusahaan, ${a.visits.total} kunjungan`;
    bar.append(title);
    const value = document.createElementNS(NS, 'text');
    value.setAttribute('x', labelW + w + 4);
    value.setAttribute('y', y + 11);
    value.textContent = fmt.format(a.workers.total) + (a.target ? ` · ${pct(a.target.share)} tercakup / covered` : '');
    svg.append(label, bar, value);
  });
  $('chart').replaceChildren(svg);
  const t = report.target;
  $('coverage-target').textContent = t
    ? `Sulawesi Selatan: ${pct(t.share)} dari ${fmt.format(t.potential)} pekerja potensial tercakup / of ${fmt.format(t.potential)} potential workers covered (${t.baseline}${t.to_target ? `; ${fmt.format(t.to_target)} lagi menuju target ${pct(t.target_share)} / more to the ${pct(t.target_share)} target` : ''})`
    : '';
}

function recordLabel(r) {
  return `${r.label || r.id.slice(0, 8)} · ${KINDS[r.kind] || r.kind}`;
}

async function loadConflicts() {
  const inbox = await api('GET', '/v1/office/conflicts?limit=50');
  const body = $('conflicts-body');
  const rows = [];
  for (const item of inbox.items) {
    for (const field of item.conflicts) {
      const buttons = field.values.map((v) => el('button', {
        type: 'button',
        class: 'resolve-btn',
        'data-record': item.record.id,
        'data-field': field.name,
        title: `${writerName(v.officer_id, v.device_id)} · ${deviceName(v.device_id)} · ${when(v.device_time_ms)}`,
        onclick: () => resolve(item.record.id, field.name, v.hlc),
      }, `Pilih / Choose ${show(v.value)} (${writerName(v.officer_id, v.device_id)})`));
      rows.push(el('tr', { 'data-record': item.record.id },
        el('td', {}, recordLabel(item.record), el('br'), el('small', {}, item.record.village || item.record.region)),
        el('td', {}, field.label),
        el('td', {}, ...buttons)));
    }
  }
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 3, class: 'empty' }, 'Tidak ada konflik / No conflicts')));
  body.replaceChildren(...rows);
}

async function resolve(record, field, hlc) {
  const note = $('resolve-note').value.trim() || undefined;
  try {
    await api('POST', `/v1/office/records/${record}/resolve`, { field, pick: hlc, note });
    $('resolve-note').value = '';
    flash('Konflik diselesaikan / Conflict resolved');
  } catch (e) {
    if (e.status !== 401) flash(e.message, true);
  }
  await refresh();
}

async function loadDuplicates() {
  const d = await api('GET', '/v1/office/duplicates');
  const rows = [];
  for (const group of [...d.workers, ...d.companies]) {
    const items = group.records.map((r, i) => {
      const original = group.records[i === 0 ? 1 : 0];
      return el('div', { class: 'dup' },
        `${recordLabel(r)} · ${officerName(r.officer_id)} · ${when(r.created_ms)} `,
        el('button', {
          type: 'button',
          class: 'link-btn secondary',
          'data-record': r.id,
          onclick: () => linkDuplicate(r.id, original.id),
        }, 'Tandai duplikat / Mark duplicate'));
    });
    rows.push(el('tr', {}, el('td', {}, group.key), el('td', {}, ...items)));
  }
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 2, class: 'empty' }, 'Tidak ada dugaan duplikat / No suspected duplicates')));
  $('duplicates-body').replaceChildren(...rows);
}

async function linkDuplicate(duplicate, original) {
  try {
    await api('POST', '/v1/office/duplicates/link', { duplicate, original });
    flash('Ditandai sebagai duplikat / Marked as duplicate');
  } catch (e) {
    if (e.status !== 401) flash(e.message, true);
  }
  await refresh();
}

// The review queue, a page at a time: `more` appends the next page of waiting records.
async function loadReview(more) {
  const cursor = more ? $('review-more').dataset.cursor : '';
  const q = await api('GET', more ? `/v1/office/review?list=awaiting&cursor=${encodeURIComponent(cursor)}` : '/v1/office/review');
  const pick = (r) => el('td', {}, el('input', { type: 'checkbox', class: 'review-pick', 'data-record': r.id, 'aria-label': 'pilih / select' }));
  const row = (r, flagged) => el('tr', { 'data-record': r.id },
    pick(r),
    el('td', {}, recordLabel(r), el('br'), el('small', {}, r.village || r.region)),
    el('td', { class: flagged ? 'bad' : '' }, show(r.status), flagged ? el('small', {}, ' diubah setelah disetujui / edited after approval') : null),
    el('td', {}, officerName(r.officer_id)),
    el('td', {},
      el('button', { type: 'button', class: 'approve-btn', onclick: () => decide(r.id, 'approve') }, 'Setujui / Approve'),
      el('button', { type: 'button', class: 'return-btn secondary', onclick: () => decide(r.id, 'return') }, 'Kembalikan / Return')));
  // A visit cancelled while a team member's findings on it survive (docs/domain.md case 6):
  // nothing to approve, the supervisor opens it (status to settle, findings to archive).
  const cancelled = (r) => el('tr', { 'data-record': r.id, class: 'cancelled-with-findings' },
    el('td', {}),
    el('td', {}, recordLabel(r), el('br'), el('small', {}, r.village || r.region)),
    el('td', { class: 'bad' }, show(r.status), el('small', {}, ' dibatalkan, ada temuan / cancelled with findings')),
    el('td', {}, officerName(r.officer_id)),
    el('td', {},
      el('button', { type: 'button', class: 'open-btn secondary', onclick: () => openRecord(r.id) }, 'Lihat / Open')));
  const rows = more ? q.awaiting.map((r) => row(r, false)) : [
    ...(q.cancelled_with_findings || []).map(cancelled),
    ...q.flagged.map((r) => row(r, true)),
    ...q.awaiting.map((r) => row(r, false)),
  ];
  if (more) {
    $('review-body').append(...rows);
  } else {
    if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'Tidak ada yang menunggu / Nothing waiting')));
    $('review-body').replaceChildren(...rows);
    $('review-all').checked = false;
  }
  const shown = document.querySelectorAll('#review-body tr[data-record]:not(.cancelled-with-findings)').length;
  $('review-count').textContent = `${fmt.format(shown)} dari / of ${fmt.format(q.awaiting_total + q.flagged_total)} ditampilkan / shown`;
  $('review-more').hidden = !q.awaiting_next_cursor;
  $('review-more').dataset.cursor = q.awaiting_next_cursor || '';
  pickChanged();
}

// Each visited company's case, overdue first; a row opens the company.
async function loadCases() {
  const overdue = $('cases-overdue').checked;
  const q = await api('GET', `/v1/office/enforcement?limit=100${overdue ? '&overdue=true' : ''}`);
  const rows = q.cases.map((c) => el('tr', { class: 'clickable', 'data-record': c.company ? c.company.id : '', onclick: () => c.company && openRecord(c.company.id) },
    el('td', {}, c.company ? recordLabel(c.company) : '—', el('br'), el('small', {}, c.company ? (c.company.village || c.company.region) : '')),
    el('td', {}, c.stage_label),
    el('td', {}, fmt.format(c.open_findings)),
    el('td', { class: c.overdue_days ? 'bad' : '' }, show(c.deadline), c.overdue_days ? el('small', {}, ` lewat ${c.overdue_days} hari / ${c.overdue_days} days overdue`) : null),
    el('td', { class: c.overdue_days ? 'bad waiting' : 'waiting' }, c.waiting_on_text),
    el('td', {}, c.visits.map((v) => `${v.date || '—'}: ${v.stage_label}`).join(' → '))));
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 6, class: 'empty' }, 'Tidak ada / None')));
  $('cases-body').replaceChildren(...rows);
  $('cases-total').textContent = `${fmt.format(q.total)} kasus / cases · ${fmt.format(q.overdue_total)} lewat batas waktu / overdue`;
}

function picked() {
  return [...document.querySelectorAll('#review-body .review-pick:checked')].map((c) => c.dataset.record);
}

function pickChanged() {
  const n = picked().length;
  $('review-approve-selected').disabled = n === 0;
  $('review-approve-selected').textContent = n ? `Setujui ${fmt.format(n)} yang dipilih / Approve ${n} selected` : 'Setujui yang dipilih / Approve selected';
}

// One decision for every record picked; records refused (changed meanwhile) are named.
async function approveSelected() {
  const records = picked();
  if (!records.length) return;
  try {
    // At most 200 a call, as the server takes them.
    let decided = 0;
    const refused = [];
    for (let i = 0; i < records.length; i += 200) {
      const out = await api('POST', '/v1/office/review', { decision: 'approve', records: records.slice(i, i + 200) });
      decided += out.decided;
      refused.push(...out.results.filter((r) => !r.done));
    }
    if (refused.length) flash(`${decided} disetujui / approved; ${refused.length} tidak / not: ${refused[0].message}`, true);
    else flash(`${decided} disetujui / approved`);
    await refresh();
  } catch (e) {
    if (e.status !== 401) flash(e.message, true);
  }
}

async function decide(id, decision) {
  await review(id, decision);
  await refresh();
}

function duration(ms) {
  const minutes = Math.round(ms / 60000);
  return minutes >= 120 ? `${Math.round(minutes / 60)} jam/h` : `${minutes} mnt/min`;
}

async function loadSetAside() {
  const list = await api('GET', '/v1/office/set-aside');
  const rows = list.items.map((x) => el('tr', {},
    el('td', {}, officerName(x.officer_id), el('br'), el('small', {}, deviceName(x.device_id))),
    el('td', {}, KINDS[x.kind] || x.kind, el('br'), el('small', {}, x.op.changes.map((c) => c.field).join(', '))),
    el('td', { class: 'bad' }, duration(x.ahead_ms)),
    el('td', {},
      el('button', { type: 'button', class: 'accept-btn', onclick: () => handleSetAside(x.id, 'accept') }, 'Terima / Accept'),
      el('button', { type: 'button', class: 'discard-btn secondary', onclick: () => handleSetAside(x.id, 'discard') }, 'Buang / Discard'))));
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'Tidak ada / None')));
  $('setaside-body').replaceChildren(...rows);
}

async function handleSetAside(id, action) {
  let body = {};
  if (action === 'discard') {
    const reason = window.prompt('Alasan / Reason', '');
    if (!reason) return;
    body = { reason };
  }
  try {
    await api('POST', `/v1/office/set-aside/${id}/${action}`, body);
    flash(action === 'accept' ? 'Diterima dengan jam server / Accepted at server time' : 'Dibuang / Discarded');
  } catch (e) {
    if (e.status !== 401) flash(e.message, true);
  }
  await refresh();
}

function offset(ms) {
  if (ms === null || ms === undefined) return '—';
  const minutes = Math.round(ms / 60000);
  return minutes === 0 ? '0' : `${minutes > 0 ? '+' : ''}${minutes} mnt/min`;
}

// A wipe order and how far it went, in Indonesian and English.
function wipeText(w) {
  if (!w) return null;
  const what = w.order === 'lost' ? 'hilang / lost' : 'ditarik / retired';
  const state = w.wiped_ms ? `dihapus / wiped ${when(w.wiped_ms)}`
    + (w.report && w.report.pending_ops ? ` (${w.report.pending_ops} edit belum terkirim dimusnahkan / unsent edits destroyed)` : '')
    : w.told_ms ? `diberi tahu / told ${when(w.told_ms)}` : 'belum kontak / not in contact yet';
  return el('small', { class: 'bad' }, ` ${what}: ${state}`);
}

// A device's signed chain: unsigned (an app from before keys), or how far it goes and its breaks.
function chainText(x) {
  if (!x.signed) return 'tanpa tanda tangan / unsigned';
  const base = `${x.chain_n} op`;
  if (!x.chain_breaks) return base;
  const what = { chain_gap: 'celah (server dipulihkan?) / gap (server restored?)', chain_fork: 'cabang (HP dipulihkan atau disalin?) / fork (phone restored or copied?)', bad_signature: 'tanda tangan salah / bad signature', key_mismatch: 'kunci lain / another key', signature_required: 'tanpa segel / unsealed' }[x.chain_problem && x.chain_problem.code] || (x.chain_problem && x.chain_problem.code) || '';
  return `${base} · ${x.chain_breaks}× putus / broken: ${what}`;
}

async function loadDevices() {
  const d = await api('GET', '/v1/office/devices');
  remember(d.devices);
  const rows = d.devices.map((x) => el('tr', {},
    el('td', {}, x.officer_name || x.officer_id, el('br'), el('small', {}, x.name || x.device_id.slice(0, 8)), x.revoked_ms && !x.wipe ? el('small', { class: 'bad' }, ' dicabut / revoked') : null, wipeText(x.wipe)),
    el('td', { class: x.silent ? 'bad' : '' }, when(x.last_sync_ms)),
    el('td', {}, show(x.pending_ops)),
    el('td', { class: x.rejected_ops ? 'bad' : '' }, show(x.rejected_ops), x.set_aside ? ` (+${x.set_aside} ditahan / set aside)` : ''),
    el('td', { class: x.clock_warning ? 'bad' : '' }, offset(x.clock_offset_ms)),
    el('td', { class: x.chain_breaks ? 'bad' : '' }, chainText(x))));
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 6, class: 'empty' }, 'Belum ada perangkat / No devices yet')));
  $('devices-body').replaceChildren(...rows);
}

let searchCursor = null;

function searchQuery() {
  const p = new URLSearchParams();
  const add = (k, v) => { if (v) p.set(k, v); };
  add('q', $('search-q').value.trim());
  add('kind', $('search-kind').value);
  add('status', $('search-status').value.trim());
  add('region', $('search-region').value.trim());
  if ($('search-conflicts').checked) p.set('has_conflicts', 'true');
  if ($('search-review').checked) p.set('needs_review', 'true');
  if ($('search-cancelled').checked) p.set('cancelled_with_findings', 'true');
  p.set('limit', '25');
  return p;
}

async function search(event, more) {
  if (event) event.preventDefault();
  const p = searchQuery();
  if (more && searchCursor) p.set('cursor', searchCursor);
  try {
    const page = await api('GET', `/v1/office/records?${p}`);
    const rows = page.records.map((r) => el('tr', { class: 'clickable', 'data-record': r.id, onclick: () => openRecord(r.id) },
      el('td', {}, r.label || r.id.slice(0, 8), r.conflicts ? el('small', { class: 'bad' }, ' konflik / conflict') : null, r.needs_review ? el('small', { class: 'bad' }, ' review ulang / re-review') : null, r.cancelled_with_findings ? el('small', { class: 'bad' }, ' batal, ada temuan / cancelled with findings') : null),
      el('td', {}, KINDS[r.kind] || r.kind),
      el('td', {}, show(r.status)),
      el('td', {}, show(r.nik || r.nib)),
      el('td', {}, r.village || r.region, el('br'), el('small', {}, r.regency || '')),
      el('td', {}, when(r.updated_ms))));
    if (more) $('search-body').append(...rows);
    else $('search-body').replaceChildren(...rows);
    searchCursor = page.next_cursor;
    $('search-more').hidden = !page.next_cursor;
    $('search-total').textContent = `${fmt.format(page.total)} data ditemukan / records found`;
  } catch (e) {
    if (e.status !== 401) flash(e.message, true);
  }
}

// An attachment reference as a record holds it: b3:<hash>?size=N&type=T[&taken=][&geo=][&caption=].
function parseRef(element) {
  if (typeof element !== 'string' || !element.startsWith('b3:')) return null;
  const [hash, query] = element.slice(3).split('?');
  const q = new URLSearchParams(query || '');
  return { hash, size: Number(q.get('size')), media_type: q.get('type'), caption: q.get('caption'), taken_at: q.get('taken') };
}

function bytesText(n) {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KB`;
  return `${n} B`;
}

function refText(element) {
  const a = parseRef(element);
  if (!a) return show(element);
  const what = a.media_type === 'application/pdf' ? 'dokumen / document' : 'foto / photo';
  return `${what}${a.caption ? ` “${a.caption}”` : ''} (${bytesText(a.size)}, ${a.hash.slice(0, 8)})`;
}

// The bytes of an office URL, fetched with the session (an <img src> cannot send it).
async function blobUrl(path) {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ''}` } });
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    throw new ApiError(res.status, body);
  }
  return URL.createObjectURL(await res.blob());
}

// A photo opens in a new tab; a PDF is saved (a blob: document inherits this page's policy,
// which a PDF viewer does not work under).
async function openAttachment(a) {
  try {
    const url = await blobUrl(a.url);
    if (a.media_type === 'application/pdf') {
      const link = el('a', { href: url, download: `${a.hash.slice(0, 16)}.pdf` });
      document.body.append(link);
      link.click();
      link.remove();
    } else {
      window.open(url, '_blank', 'noopener');
    }
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (e) {
    if (e.status !== 401) flash(e.message, true);
  }
}

// A visit's printable inspection report, saved as a file.
async function downloadReport(id) {
  try {
    const url = await blobUrl(`/v1/office/records/${id}/report.pdf`);
    const link = el('a', { href: url, download: `laporan-${id.slice(0, 8)}.pdf` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    flash('Laporan diunduh / Report downloaded');
  } catch (e) {
    if (e.status !== 401) flash(e.message, true);
  }
}

// A record's evidence bundle (its ops with the devices' seals, keys, decisions and the log's
// root, sealed by the server), saved as a JSON file that `sidak verify` checks offline.
async function downloadEvidence(id) {
  try {
    const url = await blobUrl(`/v1/office/records/${id}/evidence`);
    const link = el('a', { href: url, download: `bukti-${id.slice(0, 8)}.json` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    flash('Bukti diunduh; periksa dengan `sidak verify` / Evidence downloaded; check it with `sidak verify`');
  } catch (e) {
    if (e.status !== 401) flash(e.message, true);
  }
}

function attachmentCard(a) {
  const state = { stored: '', uploading: `mengunggah / uploading ${bytesText(a.received)} of ${bytesText(a.size)}`, not_uploaded: 'belum diunggah / not uploaded yet' }[a.state];
  let preview;
  if (a.state !== 'stored') {
    preview = el('div', { class: 'doc' }, 'menunggu / waiting');
  } else if (a.thumbnail_url) {
    preview = el('img', { class: 'thumb', alt: a.caption || 'foto / photo', 'data-hash': a.hash });
    preview.addEventListener('click', () => openAttachment(a));
    blobUrl(a.thumbnail_url).then((u) => { preview.src = u; }).catch((e) => { preview.alt = e.message; });
  } else {
    preview = el('div', { class: 'doc', onclick: () => openAttachment(a) }, 'PDF');
  }
  return el('div', { class: 'attachment' }, preview,
    el('div', {}, a.caption || (a.media_type === 'application/pdf' ? 'dokumen / document' : 'foto / photo')),
    el('small', {}, [a.taken_at ? when(Date.parse(a.taken_at)) : null, bytesText(a.size), state].filter(Boolean).join(' · ')));
}

function describe(change) {
  const verb = { set: '', add: '+ ', remove: '− ' }[change.action] || '';
  if (change.field === 'attachments') {
    return el('div', {}, el('b', {}, change.label.split(' / ')[0]), ': ', verb, refText(change.member));
  }
  const parts = [el('b', {}, change.label.split(' / ')[0]), ': ', verb];
  if (change.action === 'set' && change.old !== null && change.effective) {
    parts.push(el('span', { class: 'old' }, show(change.old)), ' → ');
  }
  parts.push(show(change.new));
  if (!change.effective) parts.push(el('small', {}, ' (tidak berubah / no change)'));
  return el('div', {}, ...parts);
}

async function openRecord(id) {
  try {
    const [detail, history, devices] = await Promise.all([
      api('GET', `/v1/office/records/${id}`),
      api('GET', `/v1/office/records/${id}/history`),
      api('GET', '/v1/office/devices'),
    ]);
    remember(devices.devices);
    const r = detail.record;
    $('detail-title').textContent = r ? `${recordLabel(r)} · ${r.status || ''} · ${r.village || r.region}` : id;
    if (window.location.hash !== `#record=${id}`) window.history.replaceState(null, '', `#record=${id}`);
    // Where it stands: review state, conflicts, set-aside edits.
    const state = [];
    if (r) {
      state.push(`Status: ${r.status || '—'}`);
      if (r.needs_review) state.push('perlu review ulang (diubah setelah disetujui) / needs review again (edited after approval)');
      if (r.cancelled_with_findings) state.push('batal, ada temuan / cancelled with findings');
      state.push(r.conflicts ? `${r.conflicts} isian berkonflik / field(s) in conflict` : 'tanpa konflik / no conflicts');
      if (r.set_aside) state.push(`${r.set_aside} op ditahan / edit(s) set aside`);
      state.push(`dibuat / created ${when(r.created_ms)} oleh / by ${officerName(r.officer_id)}`);
    }
    $('detail-state').textContent = state.join(' · ');
    const conflicts = detail.fields.filter((f) => f.conflict);
    $('detail-conflicts').replaceChildren(...conflicts.map((f) => el('div', { class: 'conflict' },
      el('b', {}, f.label), ': ',
      ...f.values.map((v) => el('button', { type: 'button', class: 'pick-btn', onclick: async () => { await resolve(id, f.name, v.hlc); await openRecord(id); } },
        `Pilih / Choose ${show(v.value)} (${writerName(v.officer_id, v.device_id)}, ${deviceName(v.device_id)}, ${when(v.device_time_ms)})`)))));
    const actions = [];
    if (r && (r.kind === 'worker' || r.kind === 'visit')) {
      actions.push(el('button', { type: 'button', id: 'approve-btn', onclick: () => review(id, 'approve') }, 'Setujui / Approve'));
      actions.push(el('button', { type: 'button', class: 'secondary', id: 'return-btn', onclick: () => review(id, 'return') }, 'Kembalikan / Return'));
    }
    if (r && r.kind === 'visit') {
      actions.push(el('button', { type: 'button', class: 'secondary', id: 'report-btn', onclick: () => downloadReport(id) }, 'Unduh laporan (PDF) / Download report'));
    }
    if (r) {
      actions.push(el('button', { type: 'button', class: 'secondary', id: 'evidence-btn', onclick: () => downloadEvidence(id) }, 'Unduh bukti / Download evidence'));
    }
    $('detail-actions').replaceChildren(...actions);
    $('detail-attachments').replaceChildren(...(detail.attachments.length ? detail.attachments.map(attachmentCard) : [el('span', { class: 'empty' }, 'Tidak ada / None')]));
    $('detail-fields').replaceChildren(...detail.fields.filter((f) => f.name !== 'attachments' && f.value !== null && !(Array.isArray(f.value) && !f.value.length)).map((f) =>
      el('tr', {}, el('th', {}, f.label), el('td', { class: f.conflict ? 'bad' : '' }, f.conflict ? f.values.map((v) => show(v.value)).join(' | ') : show(f.value)))));
    $('history-body').replaceChildren(...history.entries.map((e) => el('tr', {},
      el('td', {}, when(e.device_time_ms), el('br'), el('small', {}, `diterima / received ${when(e.received_ms)}`)),
      e.office
        ? el('td', {}, e.officer_id.replace('office:', 'kantor / office: '))
        : el('td', {}, writerName(e.officer_id, e.device_id), el('br'), el('small', {}, deviceName(e.device_id))),
      el('td', {}, ...e.changes.map(describe), ...e.actions.filter((a) => a.note).map((a) => el('div', {}, el('small', {}, `Catatan / Note: ${a.note}`)))))));
    $('detail').dataset.record = id;
    $('detail').hidden = false;
  } catch (e) {
    if (e.status !== 401) flash(e.message, true);
  }
}

async function review(id, decision) {
  let note;
  if (decision === 'return') {
    note = window.prompt('Komentar untuk petugas / Comment for the officer', '');
    if (!note) return;
  }
  try {
    await api('POST', `/v1/office/records/${id}/review`, { decision, note });
    flash(decision === 'approve' ? 'Disetujui / Approved' : 'Dikembalikan / Returned');
    if (!$('detail').hidden && $('detail').dataset.record === id) await openRecord(id);
    await loadOverview();
  } catch (e) {
    if (e.status !== 401) flash(e.message, true);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', async () => {
    await fetch('/v1/logout', { method: 'POST', headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ''}` } }).catch(() => null);
    logout();
  });
  $('refresh').addEventListener('click', refresh);
  $('search-form').addEventListener('submit', (e) => search(e, false));
  $('search-more').addEventListener('click', () => search(null, true));
  $('review-more').addEventListener('click', () => loadReview(true).catch((e) => flash(e.message, true)));
  $('review-approve-selected').addEventListener('click', approveSelected);
  $('cases-overdue').addEventListener('change', () => loadCases().catch((e) => flash(e.message, true)));
  $('review-body').addEventListener('change', pickChanged);
  $('review-all').addEventListener('change', () => {
    for (const c of document.querySelectorAll('#review-body .review-pick')) c.checked = $('review-all').checked;
    pickChanged();
  });
  if (sessionStorage.getItem(TOKEN_KEY)) start().catch(() => logout());
});
