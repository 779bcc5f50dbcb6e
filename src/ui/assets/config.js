// Config: a settings form generated from the schema (`config.schema`, saved as a merge patch
// with `config.patch`) and the file as raw JSON5 (`config.get`, saved whole with
// `config.set`). Both send the base hash. The gateway's validation problems are listed by
// path; after a save the page says what applied live and what waits for a restart; a file
// changed underneath (stale base hash) is shown as a conflict with a reload.

import { Page, errText, h, mount } from './dom.js';
import { build } from './form.js';

class Config extends Page {
  async load() {
    this.editor = h('textarea', { id: 'config-raw', rows: 24, spellcheck: false });
    this.result = h('div', { id: 'config-result' });
    this.info = h('p', { class: 'muted' });
    this.form = h('div');
    mount(this.body, this.result,
      h('section', { class: 'card' }, h('h2', null, 'Settings'), this.form,
        h('div', { class: 'toolbar' }, h('button', { id: 'form-save', onclick: () => this.saveForm() }, 'Save settings'))),
      h('section', { class: 'card' }, h('h2', null, 'Configuration file'), this.info, this.editor,
        h('div', { class: 'toolbar' },
          h('button', { id: 'config-save', onclick: () => this.save('config.set', { raw: this.editor.value }) }, 'Save file'),
          h('button', { id: 'config-reload', onclick: () => this.run(() => this.reload()) }, 'Reload from disk'))));
    const described = await this.gw.call('config.schema', {});
    this.schema = described.schema;
    this.hints = described.uiHints || {};
    await this.reload();
  }

  async reload() {
    const c = await this.gw.call('config.get', {});
    this.baseHash = c.hash;
    this.editor.value = c.raw || '{\n}\n';
    this.info.textContent = `${c.path}${c.exists ? '' : ' (not created yet)'}; secrets are shown as "<redacted>" and kept when saved as is.`;
    mount(this.form, build(this.schema, c.config || {}, this.hints));
    mount(this.result, c.issues && c.issues.length ? this.problems('The file on disk has problems', c.issues) : null);
  }

  problems(title, issues) {
    return h('section', { class: 'card error-card', id: 'config-issues' }, h('h3', null, title),
      h('ul', null, issues.map((p) => h('li', null, h('code', null, p.path), `: ${p.message}`, p.location ? ` (${p.location})` : ''))));
  }

  saveForm() {
    const patch = this.form.firstElementChild.changes();
    if (!patch) { mount(this.result, h('p', { class: 'muted' }, 'No setting changed.')); return; }
    return this.save('config.patch', { raw: JSON.stringify(patch) });
  }

  async save(method, params) {
    mount(this.result, h('p', null, 'Saving…'));
    let r;
    try {
      r = await this.gw.call(method, { ...params, baseHash: this.baseHash });
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
    const a = r.applied || {};
    const list = (xs) => (xs && xs.length ? xs.join(', ') : 'nothing');
    await this.reload();
    mount(this.result, h('section', { class: 'card ok-card', id: 'config-saved' },
      h('p', null, `Saved (${(r.outcome && r.outcome.outcome) || 'written'}).`),
      h('p', null, 'Applied live: ', h('span', { id: 'applied-hot' }, list(a.hot))),
      h('p', null, 'Needs a restart: ', h('span', { id: 'applied-restart' }, list(a.restart))),
      r.listenerError ? h('p', { class: 'error' }, `Listener: ${r.listenerError}`) : null));
  }
}

customElements.define('oc-config', Config);
