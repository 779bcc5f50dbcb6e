// Logs: a live tail of the gateway's JSON-lines log file (`logs.tail` with a byte cursor,
// every 2 s), with a level filter and a text search over what has been received.

import { Page, h, mount } from './dom.js';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];
const KEEP = 2000;

function parse(line) {
  try {
    const v = JSON.parse(line);
    const f = v.fields || {};
    const { message, ...rest } = f;
    const extra = Object.entries(rest).map(([k, x]) => `${k}=${typeof x === 'string' ? x : JSON.stringify(x)}`).join(' ');
    return { ts: v.timestamp || '', level: String(v.level || 'info').toLowerCase(), text: `${message ?? ''} ${extra}`.trim(), target: v.target || '' };
  } catch {
    return { ts: '', level: 'info', text: line, target: '' };
  }
}

class Logs extends Page {
  async load() {
    this.lines = [];
    this.cursor = undefined;
    this.level = h('select', { id: 'log-level', onchange: () => this.render() },
      h('option', { value: '' }, 'all levels'), LEVELS.map((l) => h('option', { value: l }, `${l}+`)));
    this.search = h('input', { id: 'log-search', type: 'search', placeholder: 'search', oninput: () => this.render() });
    this.follow = h('input', { type: 'checkbox', checked: true });
    this.out = h('div', { class: 'logs', id: 'log-lines' });
    mount(this.body, h('div', { class: 'toolbar' }, this.level, this.search, h('label', null, this.follow, ' follow')), this.out);
    this.every(2000, () => this.poll());
    await this.poll();
  }

  async poll() {
    const params = { limit: 500 };
    if (this.cursor !== undefined) params.cursor = this.cursor;
    const r = await this.gw.call('logs.tail', params);
    if (r.reset) this.lines = [];
    this.cursor = r.cursor;
    if (!r.lines || !r.lines.length) return;
    this.lines.push(...r.lines.map(parse));
    if (this.lines.length > KEEP) this.lines.splice(0, this.lines.length - KEEP);
    this.render();
  }

  render() {
    const min = LEVELS.indexOf(this.level.value);
    const q = this.search.value.toLowerCase();
    const shown = this.lines.filter((l) => (min < 0 || LEVELS.indexOf(l.level) >= min) && (!q || l.text.toLowerCase().includes(q) || l.target.includes(q)));
    mount(this.out, shown.map((l) => h('div', { class: `line ${l.level}` }, h('span', { class: 'ts' }, l.ts.slice(11, 23)), ' ',
      h('span', { class: 'lvl' }, l.level.toUpperCase()), ' ', l.text)));
    if (this.follow.checked) this.out.scrollTop = this.out.scrollHeight;
  }
}

customElements.define('oc-logs', Logs);
