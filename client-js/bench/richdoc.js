// @ts-check
// A generated formatted document for the rich-text benchmarks: paragraphs of prose (40 to 400
// characters), a heading every few paragraphs, runs of bullet list items, and words in bold,
// italic and links, about `chars` characters in all. Deterministic (a fixed linear congruential
// sequence), as ProseMirror JSON for the basic schema with lists.

/**
 * richDocJSON returns the document.
 * @param {number} chars
 */
export function richDocJSON(chars) {
  const words = ['lorem', 'ipsum', 'dolor', 'sit', 'amet,', 'consectetur', 'adipiscing', 'elit.', 'sed', 'do', 'eiusmod', 'tempor'];
  let seed = 11;
  const rnd = (/** @type {number} */ k) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % k);
  /** @param {number} len */
  const inline = (len) => {
    /** @type {any[]} */
    const out = [];
    let n = 0;
    while (n < len) {
      const w = words[rnd(words.length)];
      const r = rnd(20);
      const marks = r === 0 ? [{ type: 'strong' }] : r === 1 ? [{ type: 'em' }] : r === 2 ? [{ type: 'link', attrs: { href: `https://example.com/${rnd(100)}` } }] : null;
      const text = `${w} `;
      const last = out[out.length - 1];
      if (!marks && last && !last.marks) last.text += text;
      else out.push(marks ? { type: 'text', text, marks } : { type: 'text', text });
      n += text.length;
    }
    return { content: out, n };
  };
  /** @type {any[]} */
  const blocks = [];
  let total = 0;
  while (total < chars) {
    const r = rnd(10);
    if (r === 0) {
      const { content, n } = inline(20 + rnd(30));
      blocks.push({ type: 'heading', attrs: { level: 1 + rnd(3) }, content });
      total += n;
    } else if (r === 1) {
      /** @type {any[]} */
      const items = [];
      for (let i = 0, k = 2 + rnd(4); i < k; i++) {
        const { content, n } = inline(30 + rnd(60));
        items.push({ type: 'list_item', content: [{ type: 'paragraph', content }] });
        total += n;
      }
      blocks.push({ type: 'bullet_list', content: items });
    } else {
      const { content, n } = inline(40 + rnd(360));
      blocks.push({ type: 'paragraph', content });
      total += n;
    }
  }
  return { type: 'doc', content: blocks };
}
