// A settings form generated from the config's JSON Schema (`config.schema`): one field per
// scalar setting (booleans, numbers, strings, enums), grouped by section, labelled and
// explained by the schema's `uiHints` (secrets masked). Lists and maps stay in the raw editor. Only changed fields are sent,
// as a merge patch (`config.patch`), so the rest of the file is kept as it is.

import { h } from './dom.js';

const REDACTED = '<redacted>';

/** The schema node behind `$ref`s and an `anyOf` with null (an optional value). */
function resolve(root, node) {
  for (let i = 0; i < 10 && node; i += 1) {
    if (node.$ref) node = root.$defs[node.$ref.split('/').pop()];
    else if (node.anyOf && node.anyOf.filter((n) => n.type !== 'null').length === 1) node = node.anyOf.find((n) => n.type !== 'null');
    else if (node.allOf && node.allOf.length === 1) node = { ...node.allOf[0], description: node.description };
    else break;
  }
  return node || {};
}

/** The choices of an enum written as `enum` or as `oneOf` consts; null if it is not one. */
function choices(node) {
  if (Array.isArray(node.enum)) return node.enum.filter((v) => v !== null);
  const alts = node.oneOf || node.anyOf;
  if (Array.isArray(alts) && alts.every((a) => 'const' in a || (Array.isArray(a.enum)))) {
    return alts.flatMap((a) => ('const' in a ? [a.const] : a.enum)).filter((v) => v !== null);
  }
  return null;
}

function kind(node) {
  const types = [].concat(node.type || []).filter((t) => t !== 'null');
  if (choices(node)) return 'enum';
  return types.length === 1 && ['boolean', 'integer', 'number', 'string'].includes(types[0]) ? types[0] : null;
}

/** Every scalar setting: [{path, node, kind}], depth first. */
function fields(root, node, path, out) {
  const n = resolve(root, node);
  if (n.properties) {
    for (const [k, child] of Object.entries(n.properties)) fields(root, child, path ? `${path}.${k}` : k, out);
  } else if (kind(n)) {
    out.push({ path, node: { ...n, description: n.description || node.description }, kind: kind(n) });
  }
  return out;
}

const get = (obj, path) => path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);

function input(f, value, hint) {
  const common = { 'data-path': f.path, id: `field-${f.path}` };
  if (f.kind === 'boolean') return h('input', { ...common, type: 'checkbox', checked: value === true });
  if (f.kind === 'enum') {
    const opts = choices(f.node);
    return h('select', common, opts.map((o) => h('option', { value: JSON.stringify(o), selected: o === value }, String(o))));
  }
  if (value === REDACTED || hint.sensitive) {
    return h('input', { ...common, type: 'password', autocomplete: 'off', placeholder: value == null ? 'not set' : 'set (kept unless replaced)' });
  }
  const attrs = f.kind === 'string' ? { type: 'text' } : { type: 'number', step: f.kind === 'integer' ? 1 : 'any', min: f.node.minimum, max: f.node.maximum };
  return h('input', { ...common, ...attrs, value: value == null ? '' : String(value), placeholder: f.node.default != null ? String(f.node.default) : '' });
}

/** The value a field holds now, in the schema's type; undefined when left empty. */
function read(el, f) {
  if (f.kind === 'boolean') return el.checked;
  if (f.kind === 'enum') return JSON.parse(el.value);
  if (el.value === '') return undefined;
  return f.kind === 'string' ? el.value : Number(el.value);
}

/** Builds the form; `changes()` on the result gives the merge patch of edited fields. */
export function build(schema, effective, hints = {}) {
  const all = fields(schema, schema, '', []);
  const groups = new Map();
  for (const f of all) {
    const top = f.path.split('.')[0];
    if (!groups.has(top)) groups.set(top, []);
    groups.get(top).push(f);
  }
  const before = new Map();
  const el = h('div', { class: 'schema-form' }, [...groups].map(([top, fs]) => h('details', { 'data-group': top },
    h('summary', null, (hints[top] && hints[top].label) || top),
    fs.map((f) => {
      const hint = hints[f.path] || {};
      const value = get(effective, f.path);
      const field = input(f, value, hint);
      before.set(f.path, [field, f, f.kind === 'boolean' || f.kind === 'enum' ? read(field, f) : field.value]);
      const help = hint.help || f.node.description;
      return h('label', { class: 'field', title: f.path }, h('span', null, hint.label || f.path.slice(top.length + 1) || top,
        h('code', { class: 'muted path' }, f.path)), field, help ? h('span', { class: 'muted' }, help) : null);
    }))));
  el.changes = () => {
    const patch = {};
    let n = 0;
    for (const [path, [field, f, was]] of before) {
      const now = f.kind === 'boolean' || f.kind === 'enum' ? read(field, f) : field.value;
      if (now === was) continue;
      const v = read(field, f);
      if (v === undefined) continue;
      const keys = path.split('.');
      let o = patch;
      for (const k of keys.slice(0, -1)) o = o[k] = o[k] || {};
      o[keys[keys.length - 1]] = v;
      n += 1;
    }
    return n ? patch : null;
  };
  return el;
}
