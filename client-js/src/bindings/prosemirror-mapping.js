// @ts-check
import { Fragment, Mark } from 'prosemirror-model';
import { cpLength } from '../utf16.js';

/**
 * The mapping between a ProseMirror document and the flat rich text of a Text root (docs/crdt.md
 * section 4; the rules are written down in docs/richtext.md and docs/prosemirror.md). The flat
 * text is a sequence of units: code points with marks, inline embeds (`{"inline": TYPE, ...attrs}`)
 * and block markers (`{"block": TYPE, "parents": [...], ...attrs}`), one marker at the start of
 * every textblock.
 *
 * This module is pure: it reads a schema and a document or a list of spans and returns the other,
 * with no editor and no CRDT involved, so that both directions are tested in node.
 *
 * Positions: ProseMirror counts UTF-16 units in text, one per inline leaf and two per node boundary;
 * the flat text counts code points, one per embed and one per marker. Every textblock of the
 * rendered document corresponds to exactly one marker (the first may have none: text before the
 * first marker is an implicit paragraph), every character to one code point and every inline node
 * to one embed, which is what makes the position maps below exact.
 */

/** @typedef {import('prosemirror-model').Schema} Schema */
/** @typedef {import('prosemirror-model').Node} PMNode */
/** @typedef {import('prosemirror-model').NodeType} NodeType */
/** @typedef {import('prosemirror-model').MarkType} MarkType */
/** @typedef {Record<string, unknown>} JSONObject */

/**
 * Span is a piece of a Text's visible content, as the CRDT's spans() returns it.
 * @typedef {{ insert: string, marks: Record<string, unknown> }
 *   | { embed: unknown, attrs: Record<string, unknown>, marks: Record<string, unknown> }} Span
 */

/**
 * Unit is one position of the flat text, as derived from a ProseMirror document: a code point, an
 * inline embed or a block marker. `marks` are ProseMirror marks (for comparisons) on code points and
 * inline embeds, `block` the type of the textblock they are in.
 * @typedef {{ t: 'c', ch: string, marks: readonly Mark[], block: NodeType }
 *   | { t: 'e', value: JSONObject, marks: readonly Mark[], block: NodeType }
 *   | { t: 'm', value: JSONObject }} Unit
 */

/** The CRDT's names for ProseMirror's and Tiptap's node types that differ from them. */
const nodeNames = /** @type {Record<string, string>} */ ({
  codeBlock: 'code_block',
  listItem: 'list_item',
  taskItem: 'list_item',
  hardBreak: 'hard_break',
  horizontalRule: 'horizontal_rule',
});

/** List wrappers: not containers of their own, but the `list` attribute of their items. */
const listKinds = /** @type {Record<string, string>} */ ({
  bullet_list: 'bullet',
  bulletList: 'bullet',
  ordered_list: 'ordered',
  orderedList: 'ordered',
  taskList: 'task',
});

/**
 * The CRDT's names for list wrapper attributes whose names differ: Tiptap's ordered list calls
 * its start number `start`, prosemirror-schema-list `order`, the flat text `order`.
 */
const listAttrNames = /** @type {Record<string, Record<string, string>>} */ ({ orderedList: { start: 'order' } });

/**
 * renameKeys returns attrs with each key that names maps renamed.
 * @param {JSONObject} attrs
 * @param {Record<string, string> | undefined} names
 * @returns {JSONObject}
 */
function renameKeys(attrs, names) {
  if (!names) return attrs;
  return Object.fromEntries(Object.entries(attrs).map(([k, v]) => [names[k] ?? k, v]));
}

/** The CRDT's names for marks whose ProseMirror names differ (prosemirror-schema-basic's). */
const markNames = /** @type {Record<string, string>} */ ({ strong: 'bold', em: 'italic' });

/** Keys of a marker or an embed that are not node attributes. */
const reserved = new Set(['block', 'inline', 'parents', 'fresh', 'list', 'listAttrs', 'listStart']);

/** The object replacement character: what an inline embed the schema cannot show renders as. */
export const OBJECT = '\uFFFC';

/**
 * Offsets are where the children of a container start: child i at flat[i] (from the container's
 * first flat unit) and at pos[i] (from the start of its content); the arrays have one more entry,
 * the total.
 * @typedef {{ kids: readonly PMNode[], flat: Float64Array, pos: Float64Array }} Offsets
 */

/**
 * Mapping holds a schema's side of the mapping: which node and mark types stand for which CRDT names.
 */
export class Mapping {
  /** @param {Schema} schema */
  constructor(schema) {
    this.schema = schema;
    /** @type {Map<string, NodeType>} CRDT node name to node type */
    this.nodes = new Map();
    /** @type {Map<string, NodeType>} list kind to the list wrapper type */
    this.lists = new Map();
    /** @type {Map<string, NodeType>} list kind to the item type ('task' may have its own) */
    this.items = new Map();
    /** @type {Map<string, MarkType>} CRDT mark name (the part before ':') to mark type */
    this.marks = new Map();
    for (const t of Object.values(schema.nodes)) {
      if (t.name in listKinds) {
        if (!this.lists.has(listKinds[t.name])) this.lists.set(listKinds[t.name], t);
        continue;
      }
      const n = this.nodeName(t);
      if (!this.nodes.has(n) || t.name === n) this.nodes.set(n, t);
    }
    const li = this.nodes.get('list_item');
    if (li) for (const k of this.lists.keys()) this.items.set(k, li);
    if (schema.nodes.taskItem) this.items.set('task', schema.nodes.taskItem);
    for (const t of Object.values(schema.marks)) this.marks.set(markNames[t.name] ?? t.name, t);
    this.paragraph = /** @type {NodeType} */ (schema.nodes.paragraph ?? schema.topNodeType.contentMatch.defaultType);
    /** @type {WeakMap<PMNode, number>} flat length of a node (markers, code points, embeds) */
    this.lenCache = new WeakMap();
    /** @type {WeakMap<PMNode, Offsets>} the offsets of a container's children */
    this.offsets = new WeakMap();
    /** @type {Offsets[]} per depth, the offsets made last (the previous version of the container there, most often) */
    this.recent = [];
  }

  /**
   * offsetsOf returns the flat and ProseMirror offsets of the children of a container node (not a
   * textblock), made once per node. A keystroke makes a new document and a new container on the
   * path to its block, with every other child the same object as before: the offsets are copied
   * from the container last seen at that depth up to the first child that differs, and shifted
   * after the last one, so that only the changed children are measured and a position is found by
   * a binary search rather than a walk over the children's lengths.
   * @param {PMNode} node
   * @param {number} depth
   * @returns {Offsets}
   */
  offsetsOf(node, depth) {
    let o = this.offsets.get(node);
    if (o !== undefined) return o;
    const kids = node.content.content;
    const n = kids.length;
    const flat = new Float64Array(n + 1);
    const pos = new Float64Array(n + 1);
    const last = this.recent[depth];
    let i = 0;
    let j = 0;
    if (last !== undefined) {
      const old = last.kids;
      const m = Math.min(n, old.length);
      while (i < m && kids[i] === old[i]) i++;
      while (j < m - i && kids[n - 1 - j] === old[old.length - 1 - j]) j++;
      flat.set(last.flat.subarray(0, i + 1));
      pos.set(last.pos.subarray(0, i + 1));
    }
    for (let k = i; k < n - j; k++) {
      flat[k + 1] = flat[k] + this.flatLen(kids[k]);
      pos[k + 1] = pos[k] + kids[k].nodeSize;
    }
    if (j > 0) {
      const l = /** @type {Offsets} */ (last);
      const d = l.kids.length - n;
      for (let k = n - j; k < n; k++) {
        flat[k + 1] = flat[k] + (l.flat[k + d + 1] - l.flat[k + d]);
        pos[k + 1] = pos[k] + (l.pos[k + d + 1] - l.pos[k + d]);
      }
    }
    o = { kids, flat, pos };
    this.offsets.set(node, o);
    this.recent[depth] = o;
    return o;
  }

  /**
   * nodeName returns the CRDT name of a node type.
   * @param {NodeType} t
   */
  nodeName(t) {
    return nodeNames[t.name] ?? t.name;
  }

  /**
   * markName returns the CRDT name of a mark: its type's name, or for a mark type of which a text may
   * carry several at once (comments: `excludes` does not name itself) `type:id`, so that overlapping
   * ones coexist in the CRDT.
   * @param {Mark} m
   */
  markName(m) {
    const base = markNames[m.type.name] ?? m.type.name;
    if (m.type.excludes(m.type)) return base;
    const id = m.attrs.id ?? m.attrs.threadId ?? JSON.stringify(nonDefault(m.type.spec.attrs, m.attrs));
    return `${base}:${id}`;
  }

  /**
   * markValue returns the CRDT value of a mark: true for a mark without attributes, else its
   * attributes that differ from their defaults.
   * @param {Mark} m
   */
  markValue(m) {
    const spec = m.type.spec.attrs;
    if (!spec || Object.keys(spec).length === 0) return true;
    return nonDefault(spec, m.attrs);
  }

  /**
   * expandOf returns the expand of a mark type: 'after' (grows when typed at its end) unless its spec
   * says `inclusive: false` (links, comments).
   * @param {MarkType} t
   * @returns {'after' | 'none'}
   */
  expandOf(t) {
    return t.spec.inclusive === false ? 'none' : 'after';
  }

  /**
   * markFromCrdt returns the ProseMirror mark for a CRDT mark, or null when the schema has no type for
   * it or the value does not fit it.
   * @param {string} name
   * @param {unknown} value
   * @returns {Mark | null}
   */
  markFromCrdt(name, value) {
    if (value === null || value === undefined || value === false) return null;
    const colon = name.indexOf(':');
    const t = this.marks.get(colon < 0 ? name : name.slice(0, colon));
    if (!t) return null;
    if (colon >= 0 && t.excludes(t)) return null;
    /** @type {JSONObject} */
    const attrs = value !== null && typeof value === 'object' && !Array.isArray(value) ? { .../** @type {JSONObject} */ (value) } : {};
    // `comment:t1` with the value true is still thread t1's comment.
    if (colon >= 0 && t.spec.attrs && 'id' in t.spec.attrs && !('id' in attrs)) attrs.id = name.slice(colon + 1);
    try {
      return t.create(attrs);
    } catch {
      return null;
    }
  }

  /**
   * marksRecord returns the CRDT form of a set of marks.
   * @param {readonly Mark[]} marks
   * @returns {Record<string, unknown>}
   */
  marksRecord(marks) {
    /** @type {Record<string, unknown>} */
    const r = {};
    for (const m of marks) r[this.markName(m)] = this.markValue(m);
    return r;
  }

  /**
   * inlineValue returns the embed of an inline leaf node.
   * @param {PMNode} node
   * @returns {JSONObject}
   */
  inlineValue(node) {
    return { inline: this.nodeName(node.type), ...nonDefault(node.type.spec.attrs, node.attrs) };
  }

  /**
   * flatLen returns the flat length of a node: for a textblock 1 (its marker) plus its content, for
   * a container the sum of its children's; cached per node (nodes are immutable).
   * @param {PMNode} node
   * @returns {number}
   */
  flatLen(node) {
    let n = this.lenCache.get(node);
    if (n !== undefined) return n;
    if (node.isTextblock) {
      n = 1;
      node.forEach((c) => {
        n = /** @type {number} */ (n) + (c.isText ? cpLength(/** @type {string} */ (c.text)) : 1);
      });
    } else if (node.isLeaf) {
      n = node.isBlock ? 1 : 0;
    } else {
      n = 0;
      node.forEach((c) => {
        n = /** @type {number} */ (n) + this.flatLen(c);
      });
    }
    this.lenCache.set(node, n);
    return n;
  }

  /**
   * docFlatLen returns the flat length of a document; with `implicit` its first textblock has no
   * marker (the text does not start with one).
   * @param {PMNode} doc
   * @param {boolean} implicit
   */
  docFlatLen(doc, implicit) {
    const o = this.offsetsOf(doc, 0);
    return o.flat[o.kids.length] - (implicit ? 1 : 0);
  }

  /**
   * toFlat returns the flat index of a ProseMirror position. A position inside a textblock maps to
   * the code point at that offset; a position between blocks to the marker of the next textblock
   * (or the end).
   * @param {PMNode} doc
   * @param {number} pos
   * @param {boolean} implicit
   */
  toFlat(doc, pos, implicit) {
    let flat = implicit ? -1 : 0;
    /** @type {PMNode} */
    let node = doc;
    let start = 0; // the position of node's content
    for (let depth = 0; ; depth++) {
      if (node.isTextblock) {
        // flat is at the marker; the content follows it.
        return flat + 1 + cpOffset(node, pos - start);
      }
      const o = this.offsetsOf(node, depth);
      const n = o.kids.length;
      // The first child that ends after pos: pos is inside it, or before it.
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (start + o.pos[mid + 1] > pos) hi = mid;
        else lo = mid + 1;
      }
      if (lo === n || pos <= start + o.pos[lo]) return Math.max(0, flat + o.flat[lo]);
      flat += o.flat[lo];
      start += o.pos[lo] + 1;
      node = o.kids[lo];
    }
  }

  /**
   * fromFlat returns the ProseMirror position of a flat index: inside a textblock for its content,
   * and at the end of the previous textblock for a marker (the caret before a marker is at the end of
   * the block before it).
   * @param {PMNode} doc
   * @param {number} flat
   * @param {boolean} implicit
   */
  fromFlat(doc, flat, implicit) {
    let at = implicit ? -1 : 0;
    /** @type {PMNode} */
    let node = doc;
    let start = 0;
    let lastEnd = -1; // the content end of the last textblock passed
    for (let depth = 0; ; depth++) {
      if (node.isTextblock) {
        if (flat <= at) return lastEnd >= 0 ? lastEnd : start;
        return start + u16Offset(node, flat - at - 1);
      }
      const o = this.offsetsOf(node, depth);
      const kids = o.kids;
      const n = kids.length;
      // The first child that ends after flat holds it; flat at the very end is in the last child.
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (flat < at + o.flat[mid + 1]) hi = mid;
        else lo = mid + 1;
      }
      let i = lo;
      if (i === n && n > 0 && flat === at + o.flat[n] && !kids[n - 1].isLeaf) i = n - 1;
      // The last textblock passed is in the last child before i that has a flat length.
      for (let k = i - 1; k >= 0; k--) {
        if (o.flat[k + 1] > o.flat[k] && !kids[k].isLeaf) {
          lastEnd = lastContentEnd(kids[k], start + o.pos[k]);
          break;
        }
      }
      if (i === n) return lastEnd >= 0 ? lastEnd : start + o.pos[n];
      at += o.flat[i];
      start += o.pos[i] + 1;
      node = kids[i];
    }
  }

  /**
   * markerOf returns the marker of the textblock at the end of `path` (its ancestors from the
   * document down, the textblock last), given the container path of the marker before it.
   * @param {PMNode[]} path     ancestors: [doc, ..., textblock]
   * @param {number[]} indices  the index of each path[i+1] in path[i]
   * @param {PMNode[]} prev     the containers of the previous marker (with its opener), outermost first
   * @returns {{ value: JSONObject, containers: PMNode[] }}
   */
  markerOf(path, indices, prev) {
    const block = path[path.length - 1];
    /** @type {PMNode[]} containers (list wrappers left out) */
    const conts = [];
    /** @type {(string | undefined)[]} the list kind of each container that is a list item */
    const kinds = [];
    let lastAt = -1; // the index in path of the innermost container
    for (let i = 1; i < path.length - 1; i++) {
      const n = path[i];
      if (n.type.name in listKinds) continue;
      conts.push(n);
      lastAt = i;
      const parent = path[i - 1];
      kinds.push(parent.type.name in listKinds ? listKinds[parent.type.name] : undefined);
    }
    const last = conts[conts.length - 1];
    const first = indices[indices.length - 1] === 0;
    /** @type {JSONObject} */
    let value;
    let parents = conts;
    if (last && first && block.type === this.paragraph && !last.isTextblock) {
      // The textblock opens its container: the marker names the container.
      parents = conts.slice(0, -1);
      value = { block: this.nodeName(last.type), ...nonDefault(last.type.spec.attrs, last.attrs) };
      const kind = kinds[kinds.length - 1];
      if (kind !== undefined) {
        value.list = kind;
        Object.assign(value, this.listKeys(path, indices, lastAt));
      }
      if (block.attrs && Object.keys(nonDefault(block.type.spec.attrs, block.attrs)).length > 0) {
        value.paragraph = nonDefault(block.type.spec.attrs, block.attrs);
      }
    } else {
      value = { block: this.nodeName(block.type), ...nonDefault(block.type.spec.attrs, block.attrs) };
    }
    if (parents.length > 0) value.parents = parents.map((n) => this.nodeName(n.type));
    // How many containers the decoder would reuse by type, and how many are really the same.
    let same = 0;
    while (same < parents.length && same < prev.length && prev[same] === parents[same]) same++;
    let byType = 0;
    while (byType < parents.length && byType < prev.length && this.nodeName(prev[byType].type) === this.nodeName(parents[byType].type)) byType++;
    if (byType > same) value.fresh = same;
    return { value, containers: conts };
  }

  /**
   * listKeys returns the keys that the marker of a list item's first paragraph adds for the list
   * around the item (docs/prosemirror.md section 1.1): on the list's first item, `listAttrs`, the
   * wrapper's attributes that differ from their defaults, and `listStart`, when the list follows
   * one of the same kind that a reader would otherwise merge it with. Neither is written when not
   * needed, so an ordinary list's markers are unchanged.
   * @param {PMNode[]} path     ancestors: [doc, ..., item, ..., textblock]
   * @param {number[]} indices  the index of each path[i+1] in path[i]
   * @param {number} at         the index of the item in path (its wrapper at at-1)
   * @returns {JSONObject}
   */
  listKeys(path, indices, at) {
    /** @type {JSONObject} */
    const out = {};
    if (at < 2 || indices[at - 1] !== 0) return out;
    const wrapper = path[at - 1];
    const attrs = renameKeys(nonDefault(wrapper.type.spec.attrs, wrapper.attrs), listAttrNames[wrapper.type.name]);
    if (Object.keys(attrs).length > 0) out.listAttrs = attrs;
    const i = indices[at - 2];
    const before = i > 0 ? path[at - 2].child(i - 1) : null;
    if (before && before.type.name in listKinds && listKinds[before.type.name] === listKinds[wrapper.type.name]) out.listStart = true;
    return out;
  }

  /**
   * units returns the flat units of the top-level children [from, to) of doc, given the containers
   * of the marker before them (those of the last textblock before child `from`).
   * @param {PMNode} doc
   * @param {number} from
   * @param {number} to
   * @param {boolean} implicit  whether the document's first textblock has no marker
   * @returns {Unit[]}
   */
  units(doc, from, to, implicit) {
    /** @type {Unit[]} */
    const out = [];
    let prev = from > 0 ? this.lastContainers(doc.child(from - 1)) : [];
    let firstBlock = from === 0;
    /**
     * @param {PMNode[]} path
     * @param {number[]} indices
     */
    const walk = (path, indices) => {
      const node = path[path.length - 1];
      if (node.isTextblock || node.isLeaf) {
        const m = this.markerOf(path, indices, prev);
        prev = m.containers;
        const skip = firstBlock && implicit;
        firstBlock = false;
        if (!skip) out.push({ t: 'm', value: m.value });
        if (node.isLeaf) return;
        node.forEach((c) => {
          if (c.isText) {
            for (const ch of /** @type {string} */ (c.text)) out.push({ t: 'c', ch, marks: c.marks, block: node.type });
          } else {
            out.push({ t: 'e', value: this.inlineValue(c), marks: c.marks, block: node.type });
          }
        });
        return;
      }
      node.forEach((c, _off, i) => walk([...path, c], [...indices, i]));
    };
    for (let i = from; i < to; i++) walk([doc, doc.child(i)], [i]);
    return out;
  }

  /**
   * inlineUnits returns the flat units of a textblock's content (its marker left out).
   * @param {PMNode} block
   * @returns {Unit[]}
   */
  inlineUnits(block) {
    /** @type {Unit[]} */
    const out = [];
    block.forEach((c) => {
      if (c.isText) {
        for (const ch of /** @type {string} */ (c.text)) out.push({ t: 'c', ch, marks: c.marks, block: block.type });
      } else {
        out.push({ t: 'e', value: this.inlineValue(c), marks: c.marks, block: block.type });
      }
    });
    return out;
  }

  /**
   * lastContainers returns the containers (list wrappers left out, outermost first) of the last
   * textblock in node, node included when it is a container.
   * @param {PMNode} node
   * @returns {PMNode[]}
   */
  lastContainers(node) {
    /** @type {PMNode[]} */
    const out = [];
    let n = node;
    while (!n.isTextblock && !n.isLeaf && n.childCount > 0) {
      if (!(n.type.name in listKinds)) out.push(n);
      n = n.child(n.childCount - 1);
    }
    return out;
  }

  /**
   * spansOf returns the spans of a document, as the CRDT would return them after writeDoc.
   * @param {PMNode} doc
   * @returns {Span[]}
   */
  spansOf(doc) {
    return unitsToSpans(this, this.units(doc, 0, doc.childCount, false));
  }

  /**
   * render builds a valid document of the schema from spans. It is a pure function of the spans:
   * whatever the schema cannot hold (a mark a node does not allow, an unknown type, a container
   * whose content would be invalid) is normalised the same way on every replica, and never written
   * back. Each marker becomes exactly one textblock, each code point one character and each inline
   * embed one inline node (or U+FFFC where none fits), so positions map exactly.
   * @param {Span[]} spans
   * @returns {PMNode}
   */
  render(spans) {
    return this.schema.topNodeType.create(null, this.renderBlocks(spans));
  }

  /**
   * renderBlocks returns the top-level nodes that spans render to.
   * @param {Span[]} spans
   * @returns {PMNode[]}
   */
  renderBlocks(spans) {
    /** @type {{ type: string, attrs: JSONObject, list: string | undefined, children: any[] }} */
    const root = { type: '', attrs: {}, list: undefined, children: [] };
    /** @type {(typeof root)[]} */
    let stack = [];
    /** @type {{ type: NodeType, attrs: JSONObject, inline: any[] } | null} */
    let block = null;
    const top = () => (stack.length > 0 ? stack[stack.length - 1] : root);
    /** @param {JSONObject | null} marker */
    const open = (marker) => {
      if (marker === null) {
        block = { type: this.paragraph, attrs: {}, inline: [] };
        root.children.push(block);
        return;
      }
      const parents = Array.isArray(marker.parents) ? marker.parents.filter((p) => typeof p === 'string') : [];
      const fresh = typeof marker.fresh === 'number' ? marker.fresh : Infinity;
      let l = 0;
      while (l < parents.length && l < stack.length && l < fresh && stack[l].type === parents[l]) l++;
      stack = stack.slice(0, l);
      for (let i = l; i < parents.length; i++) {
        const f = { type: /** @type {string} */ (parents[i]), attrs: {}, list: parents[i] === 'list_item' ? 'bullet' : undefined, children: [] };
        top().children.push(f);
        stack.push(f);
      }
      const name = typeof marker.block === 'string' ? marker.block : 'paragraph';
      const t = this.nodes.get(name);
      const attrs = attrsOf(marker);
      if (t && !t.isTextblock && !t.isLeaf) {
        // A container marker: a new container whose first child is a paragraph.
        const list = name === 'list_item' ? (typeof marker.list === 'string' ? marker.list : 'bullet') : undefined;
        const f = { type: name, attrs, list, children: [] };
        if (list !== undefined) {
          const la = marker.listAttrs;
          if (la && typeof la === 'object' && !Array.isArray(la)) {
            // null unsets an attribute, as in a marker's own attributes.
            /** @type {any} */ (f).listAttrs = Object.fromEntries(Object.entries(la).filter(([, v]) => v !== null));
          }
          if (marker.listStart === true) /** @type {any} */ (f).listStart = true;
        }
        top().children.push(f);
        stack.push(f);
        const pa = marker.paragraph && typeof marker.paragraph === 'object' ? /** @type {JSONObject} */ (marker.paragraph) : {};
        block = { type: this.paragraph, attrs: pa, inline: [] };
      } else if (t && (t.isTextblock || (t.isLeaf && t.isBlock))) {
        // A block leaf (a horizontal rule) is a marker with no text; text that a merge puts after
        // it shows in a paragraph in its place.
        block = { type: t, attrs, inline: [] };
      } else {
        block = { type: this.paragraph, attrs: {}, inline: [] };
      }
      top().children.push(block);
    };
    for (const s of spans) {
      if ('insert' in s) {
        if (block === null) open(null);
        /** @type {any} */ (block).inline.push(s);
        continue;
      }
      const e = effective(s.embed, s.attrs);
      if (e !== null && typeof e.block === 'string') {
        open(e);
        continue;
      }
      if (block === null) open(null);
      /** @type {any} */ (block).inline.push({ embed: e, marks: s.marks });
    }
    if (block === null && spans.length === 0) open(null);
    return this.buildChildren(root.children, this.schema.topNodeType);
  }

  /**
   * buildChildren turns frames into nodes for a parent of type parentType, unwrapping containers
   * whose content would not be valid.
   * @param {any[]} frames
   * @param {NodeType} parentType
   * @returns {PMNode[]}
   */
  buildChildren(frames, parentType) {
    /** @type {PMNode[]} */
    const out = [];
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      if ('inline' in f) {
        if (f.type.isLeaf) out.push(f.inline.length === 0 ? f.type.create(safeAttrs(f.type, f.attrs)) : this.buildTextblock(this.paragraph, {}, f.inline));
        else out.push(this.buildTextblock(f.type, f.attrs, f.inline));
        continue;
      }
      if (f.type === 'list_item') {
        // Consecutive items of one kind share one list wrapper, unless an item's marker says it
        // starts a new list (listStart); the wrapper's attributes are those its first item's
        // marker carries (listAttrs).
        const kind = f.list ?? 'bullet';
        const wrapper = this.lists.get(kind) ?? this.lists.get('bullet');
        /** @type {JSONObject | null} */
        let listAttrs = f.listAttrs ?? null;
        const names = wrapper && listAttrNames[wrapper.name];
        if (listAttrs && names) listAttrs = renameKeys(listAttrs, Object.fromEntries(Object.entries(names).map(([k, v]) => [v, k])));
        const itemType = this.items.get(kind) ?? this.nodes.get('list_item');
        /** @type {PMNode[]} */
        let items = [];
        const flush = () => {
          if (items.length === 0) return;
          // Attributes the schema refuses leave the list with its defaults.
          const w = wrapper ? ((listAttrs && safeCreate(wrapper, listAttrs, items)) ?? safeCreate(wrapper, null, items)) : null;
          if (w) out.push(w);
          else for (const it of items) it.forEach((c) => out.push(c));
          items = [];
        };
        let j = i;
        for (; j < frames.length && !('inline' in frames[j]) && frames[j].type === 'list_item' && (frames[j].list ?? 'bullet') === kind && (j === i || !frames[j].listStart); j++) {
          const it = frames[j];
          const kids = itemType ? this.buildChildren(it.children, itemType) : [];
          const node = itemType ? safeCreate(itemType, it.attrs, kids) : null;
          if (node) items.push(node);
          else {
            flush();
            out.push(...this.buildChildren(it.children, parentType));
          }
        }
        i = j - 1;
        flush();
        continue;
      }
      const t = this.nodes.get(f.type);
      const kids = this.buildChildren(f.children, t ?? parentType);
      const node = t && !t.isTextblock && !t.isLeaf ? safeCreate(t, f.attrs, kids) : null;
      if (node) out.push(node);
      else out.push(...kids);
    }
    return out;
  }

  /**
   * buildTextblock renders one textblock: marks the block does not allow are left out, inline embeds
   * it cannot hold become U+FFFC.
   * @param {NodeType} type
   * @param {JSONObject} attrs
   * @param {any[]} inline
   */
  buildTextblock(type, attrs, inline) {
    /** @type {PMNode[]} */
    const kids = [];
    for (const s of inline) {
      const marks = this.pmMarks(type, s.marks);
      if ('insert' in s) {
        if (s.insert) kids.push(this.schema.text(s.insert, marks));
        continue;
      }
      const e = s.embed;
      const t = e && typeof e.inline === 'string' ? this.nodes.get(e.inline) : undefined;
      let node = null;
      if (t && t.isInline && t.isLeaf && type.contentMatch.matchType(t)) {
        try {
          node = t.create(attrsOf(e), null, marks);
        } catch {
          node = null;
        }
      }
      kids.push(node ?? this.schema.text(OBJECT, marks));
    }
    try {
      return type.create(safeAttrs(type, attrs), Fragment.fromArray(mergeText(kids)));
    } catch {
      return type.create(null, Fragment.fromArray(mergeText(kids)));
    }
  }

  /**
   * pmMarks returns the ProseMirror marks of a CRDT mark record that a block of type may hold, in a
   * deterministic order (names sorted) so that exclusions resolve alike everywhere.
   * @param {NodeType} type
   * @param {Record<string, unknown>} marks
   * @returns {readonly Mark[]}
   */
  pmMarks(type, marks) {
    /** @type {readonly Mark[]} */
    let set = Mark.none;
    for (const name of Object.keys(marks).sort()) {
      const m = this.markFromCrdt(name, marks[name]);
      if (m && type.allowsMarkType(m.type)) set = m.addToSet(set);
    }
    return set;
  }
}

/**
 * unitsToSpans returns the spans of a list of units (maximal runs of code points with equal marks).
 * @param {Mapping} mp
 * @param {Unit[]} units
 * @returns {Span[]}
 */
export function unitsToSpans(mp, units) {
  /** @type {Span[]} */
  const out = [];
  /** @type {{ insert: string, marks: Record<string, unknown>, pm: readonly Mark[] } | null} */
  let run = null;
  for (const u of units) {
    if (u.t === 'c') {
      if (run && Mark.sameSet(run.pm, u.marks)) {
        run.insert += u.ch;
        continue;
      }
      run = { insert: u.ch, marks: mp.marksRecord(u.marks), pm: u.marks };
      out.push(run);
      continue;
    }
    run = null;
    out.push({ embed: u.value, attrs: {}, marks: u.t === 'e' ? mp.marksRecord(u.marks) : {} });
  }
  return out.map((s) => ('insert' in s ? { insert: s.insert, marks: s.marks } : s));
}

/**
 * effective returns an embed's value with its attributes applied (null unsets a key), or null when
 * the embed is not an object.
 * @param {unknown} embed
 * @param {Record<string, unknown>} attrs
 * @returns {JSONObject | null}
 */
export function effective(embed, attrs) {
  if (embed === null || typeof embed !== 'object' || Array.isArray(embed)) return null;
  /** @type {JSONObject} */
  const v = { .../** @type {JSONObject} */ (embed) };
  for (const [k, x] of Object.entries(attrs ?? {})) {
    if (x === null) delete v[k];
    else v[k] = x;
  }
  return v;
}

/**
 * isMarker reports whether a span is a block marker.
 * @param {Span | undefined} s
 */
export function isMarker(s) {
  if (!s || 'insert' in s) return false;
  const e = effective(s.embed, s.attrs);
  return e !== null && typeof e.block === 'string';
}

/**
 * attrsOf returns the node attributes of a marker or an embed: its keys but the reserved ones.
 * @param {JSONObject} v
 * @returns {JSONObject}
 */
function attrsOf(v) {
  /** @type {JSONObject} */
  const a = {};
  for (const [k, x] of Object.entries(v)) if (!reserved.has(k) && k !== 'paragraph') a[k] = x;
  return a;
}

/**
 * safeAttrs keeps the attributes a node type declares.
 * @param {NodeType} type
 * @param {JSONObject} attrs
 */
function safeAttrs(type, attrs) {
  /** @type {JSONObject} */
  const a = {};
  const spec = type.spec.attrs ?? {};
  for (const k of Object.keys(spec)) if (k in attrs) a[k] = attrs[k];
  return a;
}

/**
 * safeCreate creates a container node, or returns null when its content would not be valid.
 * @param {NodeType} type
 * @param {JSONObject | null} attrs
 * @param {PMNode[]} kids
 */
function safeCreate(type, attrs, kids) {
  const frag = Fragment.fromArray(kids);
  if (!type.validContent(frag)) return null;
  try {
    return type.create(attrs ? safeAttrs(type, attrs) : null, frag);
  } catch {
    return null;
  }
}

/**
 * mergeText joins adjacent text nodes with the same marks (Fragment.fromArray does not).
 * @param {PMNode[]} kids
 */
function mergeText(kids) {
  /** @type {PMNode[]} */
  const out = [];
  for (const k of kids) {
    const last = out[out.length - 1];
    if (last && last.isText && k.isText && Mark.sameSet(last.marks, k.marks)) {
      out[out.length - 1] = last.type.schema.text(/** @type {string} */ (last.text) + k.text, last.marks);
    } else out.push(k);
  }
  return out;
}

/**
 * nonDefault returns the attributes whose value differs from the spec's default.
 * @param {Record<string, import('prosemirror-model').AttributeSpec> | undefined} spec
 * @param {JSONObject} attrs
 * @returns {JSONObject}
 */
function nonDefault(spec, attrs) {
  /** @type {JSONObject} */
  const out = {};
  for (const [k, v] of Object.entries(attrs)) {
    const s = spec?.[k];
    if (s && 'default' in s && JSON.stringify(s.default) === JSON.stringify(v)) continue;
    if (v === undefined) continue;
    out[k] = v;
  }
  return out;
}

/**
 * cpOffset returns the number of flat units (code points and inline nodes) in the first `off`
 * ProseMirror positions of a textblock's content.
 * @param {PMNode} block
 * @param {number} off
 */
function cpOffset(block, off) {
  let n = 0;
  let at = 0;
  for (let i = 0; i < block.childCount && at < off; i++) {
    const c = block.child(i);
    if (c.isText) {
      const t = /** @type {string} */ (c.text);
      const take = Math.min(t.length, off - at);
      n += cpLength(t.slice(0, take));
      at += take;
    } else {
      n += 1;
      at += c.nodeSize;
    }
  }
  return n;
}

/**
 * u16Offset returns the ProseMirror offset of the first `n` flat units of a textblock's content.
 * @param {PMNode} block
 * @param {number} n
 */
function u16Offset(block, n) {
  let off = 0;
  for (let i = 0; i < block.childCount && n > 0; i++) {
    const c = block.child(i);
    if (c.isText) {
      const t = /** @type {string} */ (c.text);
      const cps = cpLength(t);
      if (cps <= n) {
        off += t.length;
        n -= cps;
        continue;
      }
      let k = 0;
      while (n > 0) {
        const code = t.codePointAt(k) ?? 0;
        k += code > 0xffff ? 2 : 1;
        n--;
      }
      return off + k;
    }
    off += c.nodeSize;
    n -= 1;
  }
  return Math.min(off, block.content.size);
}

/**
 * lastContentEnd returns the position of the end of the content of the last textblock in node
 * (which starts at pos).
 * @param {PMNode} node
 * @param {number} pos
 */
function lastContentEnd(node, pos) {
  let n = node;
  let p = pos;
  while (!n.isTextblock) {
    if (n.isLeaf || n.childCount === 0) return p + n.nodeSize;
    const last = /** @type {PMNode} */ (n.lastChild);
    p += 1 + n.content.size - last.nodeSize;
    n = last;
  }
  return p + 1 + n.content.size;
}
