// The browser's device identity: an Ed25519 key pair kept in localStorage (WebCrypto), its
// id (hex SHA-256 of the raw public key) and the signed connect proof the gateway checks
// (src/auth/device.rs: v2|id|client|mode|role|scopes|signedAt|token|nonce).

const KEY = 'openclaw-device-identity-v1';

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const unb64url = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');

/** Whether this page may keep a device identity (WebCrypto needs a secure context). */
export const possible = () => window.isSecureContext && !!(crypto && crypto.subtle);

/** The stored identity, or a new one; null when the browser cannot make one. */
export async function identity() {
  if (!possible()) return null;
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || 'null');
    if (saved && saved.privateKey && saved.publicKey) {
      const key = await crypto.subtle.importKey('pkcs8', unb64url(saved.privateKey), { name: 'Ed25519' }, false, ['sign']);
      return { id: saved.deviceId, publicKey: saved.publicKey, key };
    }
    const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
    const raw = await crypto.subtle.exportKey('raw', pair.publicKey);
    const pkcs8 = await crypto.subtle.exportKey('pkcs8', pair.privateKey);
    const id = hex(await crypto.subtle.digest('SHA-256', raw));
    const publicKey = b64url(raw);
    localStorage.setItem(KEY, JSON.stringify({ version: 1, deviceId: id, publicKey, privateKey: b64url(pkcs8) }));
    return { id, publicKey, key: pair.privateKey };
  } catch (e) {
    console.warn('no device identity (Ed25519 unavailable?)', e);
    return null;
  }
}

/** The `device` block of connect params, signed over the challenge `nonce`. */
export async function prove(dev, params, token, nonce) {
  const signedAt = Date.now();
  const scopes = (params.scopes || []).join(',');
  const msg = ['v2', dev.id, params.client.id, params.client.mode, params.role, scopes, signedAt, token || '', nonce].join('|');
  const sig = await crypto.subtle.sign({ name: 'Ed25519' }, dev.key, new TextEncoder().encode(msg));
  return { id: dev.id, publicKey: dev.publicKey, signature: b64url(sig), signedAt, nonce };
}
