// The connection to the gateway: the same origin's WebSocket, the protocol v3 handshake
// (wait for connect.challenge, send connect), request/response matching, events, and
// reconnecting with backoff. Its state is one of: connecting, connected, reconnecting,
// unauthorized (a token is needed), pairing (an operator must approve this device).

import * as device from './device.js';
import { uid } from './dom.js';

const TOKEN = 'openclaw.control.token';
const DEVICE_TOKEN = 'openclaw.device.auth.v1';
const SCOPES = ['operator.admin', 'operator.approvals', 'operator.pairing'];
// Upstream's backoff: 0.8 s, ×1.7 each attempt, at most 15 s.
const BACKOFF = { first: 800, factor: 1.7, max: 15000 };
// While waiting for approval, try again this often (approval is noticed on the next try).
const PAIRING_RETRY_MS = 3000;

export const storedToken = () => localStorage.getItem(TOKEN);
export const storeToken = (t) => (t ? localStorage.setItem(TOKEN, t) : localStorage.removeItem(TOKEN));

function deviceToken(id) {
  const d = JSON.parse(localStorage.getItem(DEVICE_TOKEN) || 'null');
  return d && d.deviceId === id && d.role === 'operator' ? d.token : null;
}

export class Gateway extends EventTarget {
  constructor() {
    super();
    this.state = { name: 'connecting' };
    this.pending = new Map();
    this.attempt = 0;
    this.hello = null;
  }

  setState(state) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  /** (Re)connects now, dropping any current socket and any scheduled retry. */
  start() {
    clearTimeout(this.retry);
    if (this.ws) { this.ws.onclose = null; this.ws.close(); }
    this.setState({ name: this.attempt ? 'reconnecting' : 'connecting', attempt: this.attempt });
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.outcome = null;
    ws.onmessage = (m) => this.receive(ws, m.data);
    ws.onclose = () => this.closed(ws);
  }

  closed(ws) {
    if (ws !== this.ws) return;
    for (const [, p] of this.pending) p.reject(new Error('connection closed'));
    this.pending.clear();
    this.hello = null;
    const outcome = this.outcome;
    if (outcome && (outcome.name === 'unauthorized' || outcome.name === 'pairing')) {
      this.setState(outcome);
      if (outcome.name === 'pairing') this.retry = setTimeout(() => this.start(), PAIRING_RETRY_MS);
      return;
    }
    const delay = Math.min(BACKOFF.max, BACKOFF.first * BACKOFF.factor ** this.attempt);
    this.attempt += 1;
    this.setState({ name: 'reconnecting', attempt: this.attempt, at: Date.now() + delay });
    this.retry = setTimeout(() => this.start(), delay);
  }

  async receive(ws, data) {
    let f;
    try { f = JSON.parse(data); } catch { return; }
    if (f.type === 'event' && f.event === 'connect.challenge') {
      await this.connect(ws, f.payload && f.payload.nonce);
    } else if (f.type === 'event') {
      this.dispatchEvent(new CustomEvent('event', { detail: f }));
    } else if (f.type === 'res') {
      const p = this.pending.get(f.id);
      if (!p) return;
      this.pending.delete(f.id);
      if (f.ok) p.resolve(f.payload);
      else p.reject(Object.assign(new Error((f.error && f.error.message) || 'request failed'), { error: f.error }));
    }
  }

  async connect(ws, nonce) {
    const shared = storedToken();
    const dev = await device.identity();
    const devToken = dev && deviceToken(dev.id);
    const token = devToken || shared;
    const params = {
      minProtocol: 3, maxProtocol: 3,
      client: { id: 'openclaw-control-ui', version: 'builtin', platform: navigator.platform || 'web', mode: 'webchat', instanceId: uid() },
      role: 'operator', scopes: SCOPES, caps: [],
      userAgent: navigator.userAgent, locale: navigator.language,
    };
    if (token) params.auth = { token };
    if (dev) params.device = await device.prove(dev, params, token, nonce);
    try {
      const hello = await this.request(ws, 'connect', params);
      if (hello.auth && hello.auth.deviceToken && dev) {
        localStorage.setItem(DEVICE_TOKEN, JSON.stringify({ deviceId: dev.id, role: 'operator', token: hello.auth.deviceToken }));
      }
      this.hello = hello;
      this.attempt = 0;
      this.setState({ name: 'connected', hello });
    } catch (e) {
      const err = e.error || {};
      if (devToken && /device token mismatch/.test(err.message || '')) {
        // A stale device token (rotated or revoked): forget it and pair again with the token.
        localStorage.removeItem(DEVICE_TOKEN);
        this.outcome = null;
      } else if (err.code === 'NOT_PAIRED') {
        this.outcome = { name: 'pairing', requestId: err.details && err.details.requestId, code: err.details && err.details.code, deviceId: dev && dev.id };
      } else {
        this.outcome = { name: 'unauthorized', message: err.message || String(e), hadToken: !!shared };
      }
      ws.close();
    }
  }

  request(ws, method, params) {
    const id = uid();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ type: 'req', id, method, params }));
    });
  }

  /** Calls a method on the connected gateway. */
  call(method, params = {}) {
    if (this.state.name !== 'connected') return Promise.reject(new Error('not connected'));
    return this.request(this.ws, method, params);
  }
}
