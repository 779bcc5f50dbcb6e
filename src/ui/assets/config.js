// Config: the config file as raw JSON5 (`config.get`), saved with its base hash
// (`config.set {raw, baseHash}`). The gateway's validation problems are listed at the editor;
// after a save the page says what applied live and what waits for a restart; a file changed
// underneath (stale base hash) is shown as a conflict with a reload.

import { Page, errText, h, mount } from './dom.js';

class Config extends Page {
  async load() {
    this.editor = h('textarea', { id: 'config-raw', rows: 24, spellcheck: false });
    this.result = h('div', { id: 'config-result' });
    this.info = h('p', { class: 'muted' });
    mount(this.body, h('section', { class: 'card' }, h('h2', null, 'Configuration file'), this.info, this.editor,
      h('div', { class: 'toolbar' },
        h('button', { id: 'config-save', onclick: () => this.save() }, 'Save'),
        h('button', { id: 'config-reload', onclick: () => this.run(() => this.reload()) }, 'Reload from disk'))),
    this.result);
    await this.reload();
  }

  async reload() {
    const c = await this.gw.call('config.get', {});
    this.baseHash = c.hash;
    this.editor.value = c.raw || '{\n}\n';
    this.info.textContent = `${c.path}${c.exists ? '' : ' (not created yet)'}; secrets are shown as "<redacted>" and kept when saved as is.`;
    mount(this.result, c.issues && c.issues.length ? this.problems('The file on disk has problems', c.issues) : null);
  }

  problems(title, issues) {
    return h('section', { class: 'card error-card', id: 'config-issues' }, h('h3', null, title),
      h('ul', null, issues.map((p) => h('li', null, h('code', null, p.path), `: ${p.message}`, p.location ? ` (${p.location})` : ''))));
  }

  async save() {
    mount(this.result, h('p', null, 'Saving…'));
    let r;
    try {
      r = await this.gw.call('config.set', { raw: this.editor.value, baseHash: this.baseHash });
    } catch (e) {
      const err = e.error || {};
      if (/changed since last load|base hash required/.test(err.message || '')) {
        mount(this.result, h('section', { class: 'card warn', id: 'config-conflict' },
          h('p', null, 'The config file changed since this page loaded it; saving would overwrite those changes.'),
          h('p', null, 'Reload it (your edits here are discarded), then make them again.'),
          h('button', { onclick: () => this.run(() => this.reload()) }, 'Reload')));
      } else if (err.details && err.details.issues) {
        mount(this.result, this.problems(err.message, err.details.issues));
      } else {
        mount(this.result, h('p', { class: 'error' }, errText(e)));
      }
      return;
    }
    this.baseHash = r.hash;
    const a = r.applied || {};
    const list = (xs) => (xs && xs.length ? xs.join(', ') : 'nothing');
    mount(this.result, h('section', { class: 'card ok-card', id: 'config-saved' },
      h('p', null, `Saved (${(r.outcome && r.outcome.outcome) || 'written'}).`),
      h('p', null, 'Applied live: ', h('span', { id: 'applied-hot' }, list(a.hot))),
      h('p', null, 'Needs a restart: ', h('span', { id: 'applied-restart' }, list(a.restart))),
      r.listenerError ? h('p', { class: 'error' }, `Listener: ${r.listenerError}`) : null));
  }
}

customElements.define('oc-config', Config);
