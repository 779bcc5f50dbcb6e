// Cron: jobs (`cron.list`, disabled ones included), enable/disable, run now, run history,
// add and edit. The gateway validates the schedule and payload: a refusal is shown at the
// form and nothing is saved.

import { Page, confirmButton, errText, h, mount, table, when } from './dom.js';

const schedule = (s) => (typeof s === 'string' ? s : s && s.expr ? `${s.expr}${s.tz ? ` (${s.tz})` : ''}` : JSON.stringify(s));

class Cron extends Page {
  async load() {
    this.list = h('div');
    this.history = h('div', { id: 'cron-history' });
    this.form = h('section', { class: 'card' });
    mount(this.body, h('section', { class: 'card' }, h('h2', null, 'Jobs'), this.list), this.history, this.form);
    this.edit(null);
    this.on('cron', (p) => this.run(async () => {
      await this.refresh();
      if (this.shown && p && p.jobId === this.shown) await this.runs(this.shown);
    }));
    await this.refresh();
  }

  async refresh() {
    const r = await this.gw.call('cron.list', { includeDisabled: true });
    const rows = (r.jobs || []).map((j) => {
      const own = j.source !== 'config';
      const toggle = h('input', { type: 'checkbox', checked: j.enabled !== false, disabled: !own, title: own ? 'enabled' : 'set in the config file',
        onchange: () => this.run(async () => { await this.gw.call('cron.update', { id: j.id, patch: { enabled: toggle.checked } }); await this.refresh(); }) });
      const last = j.lastRun;
      return h('tr', { 'data-job': j.id }, h('td', null, toggle), h('td', null, j.name || j.id, h('div', { class: 'muted' }, j.id)),
        h('td', null, h('code', null, schedule(j.schedule)), j.scheduleError ? h('div', { class: 'error' }, j.scheduleError) : null),
        h('td', null, when(j.nextRunAtMs)),
        h('td', { class: 'last' }, last ? `${last.status} ${when(last.runAtMs)}` : '—', j.running ? ' (running)' : ''),
        h('td', { class: 'actions' },
          h('button', { class: 'run-now', onclick: () => this.run(async () => { await this.gw.call('cron.run', { id: j.id, mode: 'force' }); await this.runs(j.id); }) }, 'Run now'),
          h('button', { onclick: () => this.run(() => this.runs(j.id)) }, 'History'),
          own ? h('button', { class: 'edit', onclick: () => this.edit(j) }, 'Edit') : null,
          own ? confirmButton('Remove', () => this.run(async () => { await this.gw.call('cron.remove', { id: j.id }); await this.refresh(); })) : null));
    });
    mount(this.list, rows.length ? table(['On', 'Job', 'Schedule', 'Next run', 'Last run', ''], rows) : h('p', { class: 'muted' }, 'No jobs.'));
  }

  async runs(id) {
    this.shown = id;
    const r = await this.gw.call('cron.runs', { id, limit: 20 });
    const rows = (r.runs || []).slice().reverse().map((x) => h('tr', null, h('td', null, when(x.runAtMs)),
      h('td', { class: 'run-status' }, x.status), h('td', null, x.reason || ''), h('td', null, x.durationMs != null ? `${x.durationMs} ms` : ''),
      h('td', null, x.summary || x.error || '')));
    mount(this.history, h('section', { class: 'card' }, h('h2', null, `Runs of ${id}`),
      rows.length ? table(['At', 'Status', 'Why', 'Took', 'Result'], rows) : h('p', { class: 'muted' }, 'No runs yet.')));
  }

  edit(job) {
    const name = h('input', { id: 'cron-name', value: job ? job.name || '' : '', placeholder: 'nightly backup' });
    const sched = h('input', { id: 'cron-schedule', value: job ? schedule(job.schedule) : '0 3 * * *', placeholder: '0 3 * * *  or  every 6h' });
    const payload = h('textarea', { id: 'cron-payload', rows: 3 });
    payload.value = JSON.stringify(job ? job.payload : { kind: 'backupSessions', keep: 7 });
    const msg = h('p', { class: 'error', id: 'cron-error' });
    const save = (e) => this.run(async () => {
      e.preventDefault();
      msg.textContent = '';
      let body;
      try { body = { name: name.value || undefined, schedule: typeof job?.schedule === 'object' && schedule(job.schedule) === sched.value ? job.schedule : sched.value, payload: JSON.parse(payload.value) }; } catch (err) { msg.textContent = `payload: ${errText(err)}`; return; }
      try {
        if (job) await this.gw.call('cron.update', { id: job.id, patch: body });
        else await this.gw.call('cron.add', body);
      } catch (err) { msg.textContent = errText(err); return; }
      this.edit(null);
      await this.refresh();
    });
    mount(this.form, h('h2', null, job ? `Edit ${job.name || job.id}` : 'Add a job'),
      h('form', { class: 'grid', onsubmit: save },
        h('label', null, 'Name', name), h('label', null, 'Schedule', sched),
        h('label', null, 'Payload (JSON)', payload), msg,
        h('div', null, h('button', { type: 'submit', id: 'cron-save' }, job ? 'Save' : 'Add'),
          job ? h('button', { type: 'button', onclick: () => this.edit(null) }, 'Cancel') : null)));
  }
}

customElements.define('oc-cron', Cron);
