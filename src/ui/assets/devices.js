// Devices: pending pairing requests with their 6-digit code (approve / reject) and paired
// devices with their tokens (rotate / revoke). Refreshed on pairing events.

import { Page, ago, confirmButton, h, mount, table, when } from './dom.js';

/** A paired device's roles with their token records (a role may have no token yet). */
function roles(d) {
  const tokens = d.tokens || {};
  const names = new Set([...(d.roles || []), ...Object.keys(tokens)]);
  return [...names].map((r) => [r, tokens[r] || {}]);
}

class Devices extends Page {
  async load() {
    this.pending = h('div', { id: 'pending' });
    this.paired = h('div', { id: 'paired' });
    this.issued = h('div');
    mount(this.body, h('section', { class: 'card' }, h('h2', null, 'Waiting for approval'), this.pending),
      this.issued, h('section', { class: 'card' }, h('h2', null, 'Paired devices'), this.paired));
    this.on('device.pair.requested', () => this.run(() => this.refresh()));
    this.on('device.pair.resolved', () => this.run(() => this.refresh()));
    this.every(5000, () => this.refresh());
    await this.refresh();
  }

  async act(method, params) {
    const r = await this.gw.call(method, params);
    await this.refresh();
    return r;
  }

  async refresh() {
    const r = await this.gw.call('device.pair.list', {});
    const pend = (r.pending || []).map((p) => h('tr', { 'data-request': p.requestId },
      h('td', null, h('strong', { class: 'code' }, p.code)),
      h('td', null, p.displayName || p.clientId || '?', h('div', { class: 'muted' }, p.deviceId.slice(0, 16))),
      h('td', null, p.platform || ''), h('td', null, p.remoteIp || ''), h('td', null, `${p.role}`), h('td', null, ago(p.ts)),
      h('td', { class: 'actions' },
        h('button', { class: 'approve', onclick: () => this.run(() => this.act('device.pair.approve', { requestId: p.requestId })) }, 'Approve'),
        h('button', { class: 'danger', onclick: () => this.run(() => this.act('device.pair.reject', { requestId: p.requestId })) }, 'Reject'))));
    mount(this.pending, pend.length ? table(['Code', 'Device', 'Platform', 'From', 'Role', 'Asked', ''], pend) : h('p', { class: 'muted' }, 'No pending requests.'));
    const rows = (r.paired || []).flatMap((d) => roles(d).map(([role, t]) => h('tr', { 'data-device': d.deviceId },
      h('td', null, d.displayName || d.clientId || '?', h('div', { class: 'muted' }, d.deviceId.slice(0, 16))),
      h('td', null, d.platform || ''), h('td', null, role), h('td', null, (d.scopes || []).join(', ')),
      h('td', null, t.revokedAtMs ? `revoked ${when(t.revokedAtMs)}` : t.createdAtMs ? `issued ${when(t.rotatedAtMs || t.createdAtMs)}` : 'none yet'),
      h('td', { class: 'actions' },
        h('button', { onclick: () => this.run(async () => {
          const x = await this.act('device.token.rotate', { deviceId: d.deviceId, role });
          mount(this.issued, h('section', { class: 'card' }, h('p', null, `New ${role} token for ${d.deviceId.slice(0, 16)} (shown once; give it to that device):`),
            h('input', { readonly: true, value: x.token, size: 48 })));
        }) }, 'Rotate'),
        confirmButton('Revoke', () => this.run(() => this.act('device.token.revoke', { deviceId: d.deviceId, role })))))));
    mount(this.paired, rows.length ? table(['Device', 'Platform', 'Role', 'Scopes', 'Token', ''], rows) : h('p', { class: 'muted' }, 'No paired devices.'));
  }
}

customElements.define('oc-devices', Devices);
