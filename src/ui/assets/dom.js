// DOM helpers: elements are built with properties and text nodes only (never innerHTML),
// so nothing the gateway sends can become markup, and the CSP needs no inline anything.

const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'open']);

export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, kids);
  return el;
}

function add(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

/** Replaces the children of `el`. */
export function mount(el, ...kids) {
  el.replaceChildren();
  add(el, kids);
}

export const when = (ms) => (ms ? new Date(ms).toLocaleString() : '—');

export function ago(ms) {
  if (!ms) return '—';
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function duration(secs) {
  const d = Math.floor(secs / 86400), hh = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60), s = Math.floor(secs % 60);
  return d ? `${d}d ${hh}h` : hh ? `${hh}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
}

export const errText = (e) => (e && e.message) || String(e);

/** A random id that works outside secure contexts too (randomUUID needs one). */
export function uid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** A button that asks for a second click before doing something destructive. */
export function confirmButton(label, action) {
  let armed = false;
  const b = h('button', { class: `danger ${label.toLowerCase()}`, onclick: async () => {
    if (!armed) { armed = true; b.textContent = `Confirm ${label.toLowerCase()}?`; return; }
    b.disabled = true;
    try { await action(); } finally { b.disabled = false; armed = false; b.textContent = label; }
  } }, label);
  return b;
}

/**
 * A page: a custom element that loads when shown and stops its timers and listeners when
 * hidden. Subclasses implement `load()` and may call `every(ms, fn)` and `on(event, fn)`.
 */
export class Page extends HTMLElement {
  connectedCallback() {
    this.gw = document.querySelector('oc-app').gw;
    this.cleanups = [];
    this.status = h('div', { class: 'status' });
    this.body = h('div');
    mount(this, this.status, this.body);
    this.run(() => this.load());
  }

  disconnectedCallback() {
    for (const c of this.cleanups) c();
    this.cleanups = [];
  }

  every(ms, fn) {
    const t = setInterval(() => this.run(fn), ms);
    this.cleanups.push(() => clearInterval(t));
  }

  on(event, fn) {
    const l = (e) => e.detail.event === event && fn(e.detail.payload);
    this.gw.addEventListener('event', l);
    this.cleanups.push(() => this.gw.removeEventListener('event', l));
  }

  /** Runs `fn`, showing its error in the page's status line (cleared on success). */
  async run(fn) {
    try {
      const r = await fn();
      this.status.replaceChildren();
      return r;
    } catch (e) {
      mount(this.status, h('p', { class: 'error' }, errText(e)));
    }
  }
}

export function table(head, rows) {
  return h('table', null, h('thead', null, h('tr', null, head.map((c) => h('th', null, c)))),
    h('tbody', null, rows));
}
