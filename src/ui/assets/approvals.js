// Exec approvals: host commands waiting for an operator (allow once / allow always / deny),
// refreshed on approval events and counted down to their expiry.

import { Page, ago, h, mount, table } from './dom.js';

class Approvals extends Page {
  async load() {
    this.pending = h('div', { id: 'approvals' });
    mount(this.body, h('section', { class: 'card' }, h('h2', null, 'Commands waiting for approval'),
      h('p', { class: 'muted' }, 'An agent asked to run these on the gateway host. "Always" adds the program to the agent\'s allowlist.'),
      this.pending));
    this.on('exec.approval.requested', () => this.run(() => this.refresh()));
    this.on('exec.approval.resolved', () => this.run(() => this.refresh()));
    this.every(5000, () => this.refresh());
    await this.refresh();
  }

  async answer(id, decision) {
    await this.gw.call('exec.approval.resolve', { id, decision });
    await this.refresh();
  }

  async refresh() {
    const r = await this.gw.call('exec.approval.list', {});
    const rows = (r.pending || []).map((p) => {
      const q = p.request || {};
      const left = Math.max(0, Math.round(((p.expiresAtMs || 0) - Date.now()) / 1000));
      return h('tr', { 'data-approval': p.id },
        h('td', null, h('code', { class: 'command' }, q.command || ''), h('div', { class: 'muted' }, `in ${q.cwd || '?'}`)),
        h('td', null, q.resolvedPath || ''), h('td', null, q.agentId || ''), h('td', null, q.sessionKey || ''),
        h('td', null, ago(p.createdAtMs), h('div', { class: 'muted' }, `${left} s left`)),
        h('td', { class: 'actions' },
          h('button', { class: 'approve', onclick: () => this.run(() => this.answer(p.id, 'allow-once')) }, 'Allow once'),
          h('button', { class: 'always', onclick: () => this.run(() => this.answer(p.id, 'allow-always')) }, 'Always'),
          h('button', { class: 'danger', onclick: () => this.run(() => this.answer(p.id, 'deny')) }, 'Deny')));
    });
    mount(this.pending, rows.length
      ? table(['Command', 'Program', 'Agent', 'Session', 'Asked', ''], rows)
      : h('p', { class: 'muted' }, 'Nothing is waiting.'));
  }
}

customElements.define('oc-approvals', Approvals);
