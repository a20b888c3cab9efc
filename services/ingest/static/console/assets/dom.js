// Building the page. Every value from the API (names, URLs, headers, payloads, response bodies) is untrusted: it only
// ever becomes a text node or an attribute value set by name, never markup (no HTML parsing of strings anywhere:
// tests/unit/test_console_pages.py greps for the ways to do it).

/** An element: h("a", {href: "/x", class: "c", onclick: f}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A value as text: JSON for objects, "—" for none. */
export function text(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "object") return JSON.stringify(value, null, 2);
  return String(value);
}

/** A time as the browser's locale writes it, the ISO form in its title. */
export function time(iso) {
  if (!iso) return "—";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return h("span", {}, String(iso));
  return h("time", {datetime: iso, title: iso}, at.toLocaleString());
}

/** A definition list from [label, value] pairs. */
export function details(pairs) {
  return h("dl", {class: "details"}, pairs.map(([label, value]) => [h("dt", {}, label), h("dd", {}, value instanceof Node ? value : text(value))]));
}

/** A table of headers (name, value) as text. */
export function headersTable(caption, headers) {
  const entries = Object.entries(headers || {});
  if (!entries.length) return h("p", {class: "muted"}, `${caption}: none`);
  return h("table", {class: "kv"}, h("caption", {}, caption),
    h("thead", {}, h("tr", {}, h("th", {scope: "col"}, "Header"), h("th", {scope: "col"}, "Value"))),
    h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("th", {scope: "row"}, k), h("td", {}, String(v))))));
}

/** A labelled form field. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", {class: "field"}, h("label", {for: id}, label), input, hint ? h("small", {}, hint) : null);
}

export function select(name, options, value) {
  return h("select", {name}, options.map(([v, label]) => h("option", {value: v, selected: v === value}, label)));
}
