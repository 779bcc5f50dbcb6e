// Sessions: the list (`sessions.list`), a preview of each (`sessions.preview`), rename
// (`sessions.patch` label), reset and delete.

import { Page, ago, confirmButton, h, mount, table } from './dom.js';

class Sessions extends Page {
  async load() {
    this.preview = h('div', { id: 'preview' });
    this.list = h('div');
    mount(this.body, h('section', { class: 'card' }, h('h2', null, 'Sessions'), this.list), this.preview);
    await this.refresh();
  }

  async refresh() {
    const r = await this.gw.call('sessions.list', {});
    const rows = (r.sessions || []).map((s) => {
      const label = h('input', { value: s.label || '', placeholder: 'label', size: 14 });
      return h('tr', { 'data-key': s.key }, h('td', null, h('code', null, s.key)),
        h('td', null, label, h('button', { class: 'rename', onclick: () => this.run(async () => {
          await this.gw.call('sessions.patch', { key: s.key, label: label.value || null });
          await this.refresh();
        }) }, 'Rename')),
        h('td', null, ago(s.updatedAt)), h('td', null, s.turns ?? '—'),
        h('td', { class: 'actions' },
          h('button', { class: 'preview', onclick: () => this.run(() => this.show(s.key)) }, 'Preview'),
          confirmButton('Reset', () => this.run(async () => { await this.gw.call('sessions.reset', { key: s.key }); await this.refresh(); })),
          confirmButton('Delete', () => this.run(async () => { await this.gw.call('sessions.delete', { key: s.key }); await this.refresh(); }))));
    });
    mount(this.list, rows.length ? table(['Key', 'Label', 'Updated', 'Turns', ''], rows) : h('p', { class: 'muted' }, 'No sessions yet.'));
  }

  async show(key) {
    const r = await this.gw.call('sessions.preview', { keys: [key], limit: 12 });
    const p = (r.previews || [])[0] || { items: [] };
    mount(this.preview, h('section', { class: 'card' }, h('h2', null, `Preview: ${key}`),
      p.items.length ? p.items.map((i) => h('p', { class: `msg ${i.role}` }, h('b', null, `${i.role}: `), i.text))
        : h('p', { class: 'muted' }, p.status || 'empty')));
  }
}

customElements.define('oc-sessions', Sessions);
