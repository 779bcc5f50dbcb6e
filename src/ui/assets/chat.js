// Chat: a session picker, its history, sending with a thinking level, the reply streaming
// in from `chat` events (matched by run id = the idempotency key sent), abort, new session.
// Tool calls show as one compact line each (name, arguments, then the outcome's first line),
// live from `agent` tool events and in the history from the recorded calls and results.

import { Page, errText, h, mount, uid } from './dom.js';

const MAIN = 'agent:main:main';
const LEVELS = ['', 'off', 'minimal', 'low', 'medium', 'high', 'xhigh'];

/** The text of a message whose content is a string or a list of typed parts. */
function textOf(m) {
  if (!m) return '';
  if (typeof m.content === 'string') return m.content;
  if (Array.isArray(m.content)) return m.content.filter((p) => p.type === 'text').map((p) => p.text).join('');
  return typeof m.text === 'string' ? m.text : '';
}

/** One line of text, at most `n` characters. */
const clip = (s, n = 120) => { const l = String(s ?? '').split('\n')[0]; return l.length > n ? `${l.slice(0, n)}…` : l; };
const argsText = (a) => (typeof a === 'string' ? a : JSON.stringify(a ?? {}));

class Chat extends Page {
  async load() {
    this.key = sessionStorage.getItem('openclaw.chat.session') || MAIN;
    this.runs = new Map();
    this.picker = h('select', { id: 'session', onchange: () => this.select(this.picker.value) });
    this.thinking = h('select', { id: 'thinking', title: 'thinking level' }, LEVELS.map((l) => h('option', { value: l }, l || 'thinking: default')));
    this.log = h('div', { class: 'messages', id: 'messages' });
    this.input = h('textarea', { id: 'message', rows: 3, placeholder: 'Message (Enter sends, Shift+Enter for a new line)', onkeydown: (e) => {
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); this.send(); }
    } });
    this.sendBtn = h('button', { id: 'send', onclick: () => this.send() }, 'Send');
    this.abortBtn = h('button', { id: 'abort', class: 'danger', hidden: true, onclick: () => this.abort() }, 'Stop');
    this.loading = true; // until the history is shown
    this.sync();
    mount(this.body, h('div', { class: 'toolbar' }, this.picker,
      h('button', { id: 'new-session', onclick: () => this.newSession() }, 'New session'), this.thinking),
    this.log, h('div', { class: 'composer' }, this.input, this.sendBtn, this.abortBtn));
    this.on('chat', (p) => this.event(p));
    this.on('agent', (p) => { if (p.stream === 'tool') this.toolEvent(p); });
    await this.sessions();
    await this.history();
  }

  async sessions() {
    const r = await this.gw.call('sessions.list', {});
    const keys = new Set([MAIN, this.key, ...(r.sessions || []).map((s) => s.key)]);
    const labels = Object.fromEntries((r.sessions || []).map((s) => [s.key, s.label]));
    mount(this.picker, [...keys].map((k) => h('option', { value: k, selected: k === this.key }, labels[k] ? `${labels[k]} (${k})` : k)));
  }

  async select(key) {
    this.key = key;
    sessionStorage.setItem('openclaw.chat.session', key);
    this.runs.clear();
    this.busy(false);
    await this.run(() => this.history());
  }

  async newSession() {
    const key = `agent:main:ui-${Date.now().toString(36)}`;
    this.key = key;
    mount(this.log); // a new session has no history: nothing of the last one stays on screen
    await this.run(() => this.sessions());
    await this.select(key);
  }

  async history() {
    // Sending waits for the history: it replaces what the log shows.
    this.loading = true;
    this.sync();
    let r;
    try {
      r = await this.gw.call('chat.history', { sessionKey: this.key, limit: 200 });
    } finally {
      this.loading = false;
      this.sync();
    }
    this.thinking.value = '';
    if (r.thinkingLevel) this.thinking.querySelector('option').textContent = `thinking: default (${r.thinkingLevel})`;
    const lines = new Map();
    const shown = [];
    for (const m of r.messages || []) {
      if (m.role === 'tool') {
        const line = lines.get(m.tool_call_id);
        if (line) this.toolDone(line, textOf(m), Boolean(m.isError));
      } else if (m.role === 'user' || m.role === 'assistant') {
        if (textOf(m) || !m.tool_calls) shown.push(this.bubble(m.role, textOf(m)));
        for (const c of m.tool_calls || []) {
          const line = this.toolLine(c.function?.name, c.function?.arguments);
          lines.set(c.id, line);
          shown.push(line);
        }
      }
    }
    mount(this.log, shown);
    this.log.scrollTop = this.log.scrollHeight;
  }

  toolLine(name, args) {
    return h('div', { class: 'tool' }, h('span', { class: 'name' }, name || '?'), ' ', h('span', { class: 'args' }, clip(argsText(args))),
      h('span', { class: 'outcome' }));
  }

  toolDone(line, text, isError) {
    line.classList.add(isError ? 'error' : 'done');
    line.querySelector('.outcome').textContent = ` → ${isError ? 'error: ' : ''}${clip(text, 80)}`;
  }

  toolEvent(p) {
    const reply = this.runs.get(p.runId);
    if (!reply) return;
    const d = p.data || {};
    if (d.phase === 'start') {
      const line = this.toolLine(d.name, d.args);
      line.dataset.call = d.toolCallId;
      this.log.insertBefore(line, reply);
    } else if (d.phase === 'result') {
      const line = [...this.log.querySelectorAll('.tool')].find((l) => l.dataset.call === d.toolCallId);
      if (line) this.toolDone(line, d.result?.content?.[0]?.text, d.isError);
    }
    this.log.scrollTop = this.log.scrollHeight;
  }

  bubble(role, text) {
    return h('div', { class: `msg ${role}` }, h('div', { class: 'who' }, role), h('div', { class: 'text' }, text));
  }

  busy(on) {
    this.running = on;
    this.sync();
  }

  sync() {
    this.abortBtn.hidden = !this.running;
    this.sendBtn.disabled = Boolean(this.running || this.loading);
  }

  async send() {
    const message = this.input.value.trim();
    if (!message || this.sendBtn.disabled) return;
    const runId = uid();
    const reply = this.bubble('assistant', '');
    reply.classList.add('streaming');
    reply.dataset.run = runId;
    this.runs.set(runId, reply);
    this.log.append(this.bubble('user', message), reply);
    this.log.scrollTop = this.log.scrollHeight;
    this.input.value = '';
    this.busy(true);
    this.current = runId;
    const params = { sessionKey: this.key, message, deliver: false, idempotencyKey: runId };
    if (this.thinking.value) params.thinking = this.thinking.value;
    try {
      await this.gw.call('chat.send', params);
    } catch (e) {
      this.finish(runId, `error: ${errText(e)}`, 'error');
    }
  }

  event(p) {
    if (p.sessionKey !== this.key) return;
    const el = this.runs.get(p.runId);
    if (!el) return;
    const text = el.querySelector('.text');
    if (p.state === 'delta') text.textContent = textOf(p.message);
    if (p.state === 'final') this.finish(p.runId, textOf(p.message) || text.textContent, 'final');
    if (p.state === 'aborted') this.finish(p.runId, `${text.textContent} [stopped]`, 'aborted');
    if (p.state === 'error') this.finish(p.runId, `error: ${p.errorMessage || p.error || 'the run failed'}`, 'error');
    this.log.scrollTop = this.log.scrollHeight;
  }

  finish(runId, text, how) {
    const el = this.runs.get(runId);
    if (el) {
      el.querySelector('.text').textContent = text;
      el.classList.remove('streaming');
      el.classList.add(how);
    }
    if (runId === this.current) this.busy(false);
  }

  async abort() {
    await this.run(() => this.gw.call('chat.abort', { sessionKey: this.key, runId: this.current }));
  }
}

customElements.define('oc-chat', Chat);
