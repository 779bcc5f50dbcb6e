// Memory: each agent's index (files, chunks, what waits, hybrid or keyword-only and why,
// the database, the last sync), and a search over it as the agent's memory_search sees it.

import { Page, h, mount, table, when } from './dom.js';

class Memory extends Page {
  async load() {
    this.agents = h('div', { id: 'memory-agents' });
    this.agent = h('select', { id: 'memory-agent' });
    this.query = h('input', { id: 'memory-query', type: 'search', placeholder: 'Search memory', autocomplete: 'off' });
    this.results = h('div', { id: 'memory-results' });
    const form = h('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); this.run(() => this.search()); } },
      this.agent, this.query, h('button', { id: 'memory-search', type: 'submit' }, 'Search'));
    mount(this.body,
      h('section', { class: 'card' }, h('h2', null, 'Memory index'), this.agents),
      h('section', { class: 'card' }, h('h2', null, 'Search'), form, this.results));
    this.every(5000, () => this.refresh());
    await this.refresh();
  }

  async refresh() {
    const r = await this.gw.call('memory.status', {});
    if (!r.enabled) {
      mount(this.agents, h('p', { class: 'muted' }, 'Memory is off (memory.indexEnabled: false).'));
      return;
    }
    const list = r.agents || [];
    if (!this.agent.options.length) {
      mount(this.agent, list.map((a) => h('option', { value: a.agentId }, a.agentId)));
    }
    const rows = list.map((a) => {
      const sync = a.sync || {};
      const mode = a.fallback ? `keyword-only: ${a.fallback}` : `hybrid (${a.provider} ${a.model})`;
      const state = sync.running ? `${sync.phase} ${sync.done}/${sync.total}` : when(sync.lastSyncAtMs);
      return h('tr', { 'data-memory-agent': a.agentId },
        h('td', null, a.agentId), h('td', { class: 'mode' }, mode),
        h('td', { class: 'files' }, String(a.files)), h('td', null, String(a.chunks)),
        h('td', null, String(a.dirty)), h('td', null, `${Math.round((a.dbBytes || 0) / 1024)} KiB`),
        h('td', null, state, sync.lastError ? h('div', { class: 'error' }, sync.lastError) : null));
    });
    mount(this.agents, table(['Agent', 'Mode', 'Files', 'Chunks', 'Dirty', 'Database', 'Last sync'], rows));
  }

  async search() {
    const query = this.query.value.trim();
    if (!query) return;
    const r = await this.gw.call('memory.search', { query, agentId: this.agent.value || undefined });
    const hits = (r.results || []).map((x) => h('article', { class: 'hit' },
      h('div', null, h('code', { class: 'path' }, `${x.path}:${x.startLine}-${x.endLine}`),
        h('span', { class: 'muted' }, ` score ${x.score} · ${x.source}`)),
      h('pre', { class: 'snippet' }, x.snippet)));
    mount(this.results,
      r.fallback ? h('p', { class: 'muted' }, `Keyword-only: ${r.fallback}`) : null,
      hits.length ? hits : h('p', { class: 'muted', id: 'memory-none' }, 'No results.'));
  }
}

customElements.define('oc-memory', Memory);
