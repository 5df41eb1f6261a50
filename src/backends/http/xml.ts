// A small XML reader for the replies of S3 and WebDAV servers: elements, attributes, text, CDATA,
// the five predefined entities and numeric character references. Namespace prefixes are dropped
// (`D:href`, `lp1:getcontentlength` and `href` all become `href`) because servers choose prefixes
// freely while the vocabularies we read never clash. No DTDs, no external entities: a reply that
// uses them is read as text, never fetched.

export interface XmlElement {
  name: string; // local name, prefix dropped
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string; // concatenated character data directly inside this element
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, ent: string) => {
    if (ent[0] === '#') {
      const cp = ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      return Number.isFinite(cp) && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
    }
    return ENTITIES[ent] ?? m;
  });
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&${Object.entries(ENTITIES).find(([, v]) => v === c)![0]};`);
}

const localName = (qname: string): string => {
  const i = qname.indexOf(':');
  return i < 0 ? qname : qname.slice(i + 1);
};

/** Parses a document and returns its root element; throws on malformed markup. */
export function parseXml(src: string): XmlElement {
  const root: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  let i = 0;
  while (i < src.length) {
    const lt = src.indexOf('<', i);
    const top = stack[stack.length - 1]!;
    if (lt < 0) {
      top.text += decodeEntities(src.slice(i));
      break;
    }
    if (lt > i) top.text += decodeEntities(src.slice(i, lt));
    if (src.startsWith('<?', lt)) {
      i = endOf(src, '?>', lt);
    } else if (src.startsWith('<!--', lt)) {
      i = endOf(src, '-->', lt);
    } else if (src.startsWith('<![CDATA[', lt)) {
      const end = endOf(src, ']]>', lt);
      top.text += src.slice(lt + 9, end - 3);
      i = end;
    } else if (src.startsWith('<!', lt)) {
      i = endOf(src, '>', lt);
    } else if (src[lt + 1] === '/') {
      const end = endOf(src, '>', lt);
      const name = localName(src.slice(lt + 2, end - 1).trim());
      const open = stack.pop();
      if (!open || open === root || open.name !== name) throw new Error(`xml: unexpected </${name}> at ${lt}`);
      i = end;
    } else {
      const end = endOf(src, '>', lt);
      let body = src.slice(lt + 1, end - 1);
      const selfClosing = body.endsWith('/');
      if (selfClosing) body = body.slice(0, -1);
      const m = /^([^\s/>]+)/.exec(body);
      if (!m) throw new Error(`xml: bad tag at ${lt}`);
      const el: XmlElement = { name: localName(m[1]!), attrs: {}, children: [], text: '' };
      const attrRe = /([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/g;
      for (let a = attrRe.exec(body); a; a = attrRe.exec(body)) {
        el.attrs[a[1]!] = decodeEntities(a[3] ?? a[4] ?? '');
      }
      top.children.push(el);
      if (!selfClosing) stack.push(el);
      i = end;
    }
  }
  if (stack.length !== 1) throw new Error(`xml: <${stack[stack.length - 1]!.name}> is not closed`);
  const first = root.children[0];
  if (!first) throw new Error('xml: no root element');
  return first;
}

function endOf(src: string, close: string, from: number): number {
  const j = src.indexOf(close, from);
  if (j < 0) throw new Error(`xml: unterminated markup at ${from}`);
  return j + close.length;
}

/** The first child with this local name. */
export function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

/** Every child with this local name. */
export function children(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** The text of the first child with this local name, or undefined. */
export function childText(el: XmlElement, name: string): string | undefined {
  return child(el, name)?.text;
}

/** The first descendant (depth first) with this local name. */
export function find(el: XmlElement, name: string): XmlElement | undefined {
  for (const c of el.children) {
    if (c.name === name) return c;
    const d = find(c, name);
    if (d) return d;
  }
  return undefined;
}
