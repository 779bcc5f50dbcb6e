// The app shell: reads a one-time `#token=` from the URL (then removes it), keeps the
// gateway connection, shows its state (connecting, reconnecting, unauthorized, pairing),
// and routes between pages by path under the base path (the server answers every such
// path with this page).

import { Gateway, storeToken, storedToken } from './gateway.js';
import { h, mount } from './dom.js';
import './overview.js';
import './chat.js';
import './sessions.js';
import './cron.js';
import './devices.js';
import './approvals.js';
import './memory.js';
import './channels.js';
import './config.js';
import './logs.js';

const BASE = document.querySelector('meta[name="openclaw-base"]').content || '/';
const PAGES = [
  ['overview', 'Overview'], ['chat', 'Chat'], ['sessions', 'Sessions'], ['cron', 'Cron'],
  ['devices', 'Devices'], ['approvals', 'Approvals'], ['memory', 'Memory'], ['channels', 'Channels'], ['config', 'Config'], ['logs', 'Logs'],
];

/** Takes a token from `#token=` (what `openclaw dashboard` prints) or `?token=` out of the URL. */
function takeTokenFromUrl() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  const token = hash.get('token') || query.get('token');
  if (!token) return;
  storeToken(token);
  query.delete('token');
  const search = query.toString();
  history.replaceState(null, '', location.pathname + (search ? `?${search}` : ''));
}

class App extends HTMLElement {
  connectedCallback() {
    takeTokenFromUrl();
    this.gw = new Gateway();
    this.nav = h('nav', null, h('strong', { class: 'brand' }, 'OpenClaw'),
      PAGES.map(([id, label]) => h('a', { href: BASE + id, 'data-page': id, onclick: (e) => this.go(e, id) }, label)),
      this.pill = h('span', { class: 'pill', id: 'conn' }, 'connecting'));
    this.banner = h('div', { id: 'banner' });
    this.main = h('main');
    mount(this, this.nav, this.banner, this.main);
    this.gw.addEventListener('state', (e) => this.show(e.detail));
    window.addEventListener('popstate', () => this.route());
    if (storedToken() || window.isSecureContext) this.gw.start();
    else this.show({ name: 'unauthorized', message: 'Enter the gateway token to connect.' });
  }

  go(e, id) {
    e.preventDefault();
    history.pushState(null, '', BASE + id);
    this.route();
  }

  page() {
    const rest = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '';
    const id = rest.split('/')[0];
    return PAGES.some(([p]) => p === id) ? id : 'overview';
  }

  route() {
    const id = this.page();
    for (const a of this.nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === id);
    if (this.gw.state.name !== 'connected') return;
    const current = this.main.firstElementChild;
    if (current && current.localName === `oc-${id}`) return;
    mount(this.main, h(`oc-${id}`));
  }

  show(state) {
    this.pill.textContent = state.name;
    this.pill.dataset.state = state.name;
    clearInterval(this.countdown);
    if (state.name === 'connected') {
      mount(this.banner);
      if (!this.main.firstElementChild || this.main.firstElementChild.localName === 'section') mount(this.main);
      this.route();
      return;
    }
    mount(this.main);
    if (state.name === 'connecting') mount(this.banner, h('section', { class: 'card' }, h('p', null, 'Connecting to the gateway…')));
    if (state.name === 'reconnecting') this.reconnecting(state);
    if (state.name === 'unauthorized') this.unauthorized(state);
    if (state.name === 'pairing') this.pairing(state);
  }

  reconnecting(state) {
    const p = h('p');
    const tick = () => {
      const s = state.at ? Math.max(0, Math.ceil((state.at - Date.now()) / 1000)) : 0;
      p.textContent = `Connection lost. Reconnecting${s ? ` in ${s}s` : '…'} (attempt ${state.attempt}).`;
    };
    tick();
    this.countdown = setInterval(tick, 500);
    mount(this.banner, h('section', { class: 'card warn', id: 'reconnecting' }, p,
      h('button', { onclick: () => this.gw.start() }, 'Retry now')));
  }

  unauthorized(state) {
    const input = h('input', { type: 'password', id: 'token', autocomplete: 'off', placeholder: 'gateway token (or password)' });
    const submit = (e) => {
      e.preventDefault();
      if (!input.value.trim()) return;
      storeToken(input.value.trim());
      input.value = '';
      this.gw.attempt = 0;
      this.gw.start();
    };
    mount(this.banner, h('section', { class: 'card warn', id: 'unauthorized' },
      h('h2', null, 'Sign in to the gateway'),
      h('p', { class: 'error' }, state.message),
      h('p', null, 'Run ', h('code', null, 'openclaw dashboard'),
        ' on the gateway host: it prints a link that signs this browser in. Or paste the gateway token (',
        h('code', null, 'openclaw config show'), ' says where it lives). It is kept in this browser only.'),
      h('form', { onsubmit: submit }, input, h('button', { type: 'submit' }, 'Connect'))));
  }

  pairing(state) {
    mount(this.banner, h('section', { class: 'card warn', id: 'pairing' },
      h('h2', null, 'Waiting for approval'),
      h('p', null, 'This browser is a new device. An operator must approve it once.'),
      h('p', null, 'Pairing code: ', h('strong', { class: 'code', id: 'pair-code' }, state.code || '?')),
      h('p', null, 'On the gateway host run:'),
      h('pre', { id: 'pair-command' }, `openclaw devices approve ${state.requestId || state.code}`),
      h('p', { class: 'muted' }, 'or approve the code from the Devices page of a paired browser. This page retries by itself.')));
  }
}

customElements.define('oc-app', App);
