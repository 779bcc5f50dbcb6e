// Overview: the health document (`health`): status, version, uptime, listen addresses, TLS,
// children with restarts and last failure, lanes, the last reload, mDNS. Refreshed every
// 3 s and on `health` events.

import { Page, duration, h, mount, table, when } from './dom.js';

const json = (v) => (v == null ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.map(([k, v, id]) => [h('dt', null, k), h('dd', { id }, v)]));
}

class Overview extends Page {
  async load() {
    this.every(3000, () => this.refresh());
    this.on('health', () => this.run(() => this.refresh()));
    await this.refresh();
  }

  async refresh() {
    const d = await this.gw.call('health');
    // Page load to first data, for the load-time budget (read by the browser tests).
    if (!performance.getEntriesByName('openclaw:first-data').length) queueMicrotask(() => performance.mark('openclaw:first-data'));
    const cfg = d.config || {};
    const last = cfg.lastReload;
    mount(this.body,
      h('section', { class: 'card' }, h('h2', null, 'Gateway'), kv([
        ['Status', h('span', { class: `badge ${d.status}` }, d.status), 'health-status'],
        ['Version', d.version, 'health-version'],
        ['Uptime', duration(d.uptime || 0)],
        ['Phase', d.phase],
        ['Listening on', (d.listen || []).join(', ') || '—', 'health-listen'],
        ['TLS', d.tls && d.tls.enabled ? h('code', null, d.tls.fingerprint) : 'off'],
        ['Sessions', `${(d.sessions || {}).active ?? 0} open`],
        ['mDNS', d.mdns && d.mdns.state ? `${d.mdns.state}${d.mdns.reason ? ` (${d.mdns.reason})` : ''}` : json(d.mdns)],
        ['Memory (RSS)', d.memory && d.memory.rss ? `${Math.round(d.memory.rss / 1048576)} MiB` : '—'],
      ])),
      h('section', { class: 'card' }, h('h2', null, 'Children'), table(['Child', 'State', 'Restarts', 'Last failure'],
        (d.children || []).map((c) => h('tr', null, h('td', null, c.id), h('td', null, c.state),
          h('td', null, c.restarts), h('td', { class: c.lastFailure ? 'error' : null }, c.lastFailure ? `${when(Date.parse(c.lastFailure.at))}: ${c.lastFailure.reason}` : '—'))))),
      h('section', { class: 'card' }, h('h2', null, 'Lanes'), table(['Lane', 'Active', 'Queued', 'Limit'],
        Object.entries(d.lanes || {}).map(([name, l]) => h('tr', { 'data-lane': name }, h('td', null, name),
          h('td', null, l.active), h('td', null, l.queued), h('td', { class: 'limit' }, l.limit))))),
      h('section', { class: 'card' }, h('h2', null, 'Configuration'), kv([
        ['File', cfg.path],
        ['Hash', h('code', null, (cfg.hash || '').slice(0, 16))],
        ['Reload mode', cfg.reloadMode],
        ['Last reload', last ? `${when(Date.parse(last.at))} (${last.trigger}): ${last.outcome}` : 'none yet', 'last-reload'],
        ['Changed', last && last.changed && last.changed.length ? last.changed.join(', ') : '—'],
        ['Needs restart', last && last.restartRequired && last.restartRequired.length ? last.restartRequired.join(', ') : '—'],
        ['Problems', last && last.problems && last.problems.length ? last.problems.map((p) => `${p.path}: ${p.message}`).join('; ') : '—'],
      ])));
  }
}

customElements.define('oc-overview', Overview);
