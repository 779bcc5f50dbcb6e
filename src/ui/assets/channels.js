// Channels: each chat channel account (connected or why not, the last message in and out,
// reconnects), a probe of its token, and the DM pairing requests waiting for approval.

import { Page, h, mount, table, when } from './dom.js';

class Channels extends Page {
  async load() {
    this.accounts = h('div', { id: 'channels-accounts' });
    this.pairing = h('div', { id: 'channels-pairing' });
    const probe = h('button', { id: 'channels-probe', onclick: () => this.run(() => this.refresh(true)) }, 'Probe tokens');
    mount(this.body,
      h('section', { class: 'card' }, h('h2', null, 'Channels'), h('div', { class: 'toolbar' }, probe), this.accounts),
      h('section', { class: 'card' }, h('h2', null, 'Pairing requests'), this.pairing));
    this.every(5000, () => this.refresh(false));
    await this.refresh(false);
  }

  async refresh(probe) {
    const st = await this.gw.call('channels.status', { probe });
    const rows = [];
    for (const id of st.channelOrder || []) {
      for (const a of (st.channelAccounts || {})[id] || []) {
        const state = a.running ? (a.connected ? 'connected' : 'connecting') : (a.configured ? 'stopped' : 'not configured');
        const p = a.probe ? (a.probe.ok ? `ok (${a.probe.bot})` : `failed: ${a.probe.error}`) : '';
        rows.push(h('tr', { 'data-channel': id },
          h('td', null, `${st.channelLabels[id] || id} (${a.accountId})`), h('td', { class: 'state' }, state),
          h('td', null, when(a.lastInboundAt)), h('td', null, when(a.lastOutboundAt)),
          h('td', null, `${a.reconnects || 0} / ${a.restarts || 0}`),
          h('td', { class: 'error' }, a.lastError || ''), h('td', { class: 'probe' }, p)));
      }
    }
    mount(this.accounts, rows.length
      ? table(['Channel', 'State', 'Last in', 'Last out', 'Reconnects / restarts', 'Last error', 'Probe'], rows)
      : h('p', { class: 'muted' }, 'No channel configured (channels.discord.token, channels.slack.botToken + appToken).'));
    const r = await this.gw.call('channels.pairing.list', {});
    const reqs = (r.requests || []).map((q) => h('tr', { 'data-code': q.code },
      h('td', null, q.channel), h('td', null, q.senderName ? `${q.senderId} (${q.senderName})` : q.senderId),
      h('td', null, h('code', null, q.code)), h('td', null, when(q.createdAtMs)),
      h('td', null, h('button', {
        class: 'approve',
        onclick: () => this.run(async () => {
          await this.gw.call('channels.pairing.approve', { channel: q.channel, code: q.code });
          await this.refresh(false);
        }),
      }, 'Approve'))));
    mount(this.pairing, reqs.length
      ? table(['Channel', 'Sender', 'Code', 'Asked', ''], reqs)
      : h('p', { class: 'muted', id: 'pairing-none' }, 'No pairing requests waiting.'));
  }
}

customElements.define('oc-channels', Channels);
