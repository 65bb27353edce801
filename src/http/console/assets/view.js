// Small helpers to build the pages' DOM. Text is always set as text, never parsed as HTML, so
// whatever a channel or an order carries is shown, not run.

/** An element: h('td', { class: 'number' }, 12). Attributes starting with "on" are listeners. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's content. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** A table; columns are { title, value(row), number? }. */
export function table(columns, rows, { empty = 'Nothing here.', rowAttributes = () => ({}) } = {}) {
  if (rows.length === 0) {
    return h('p', { class: 'empty' }, empty);
  }
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('thead', {}, h('tr', {}, columns.map((column) =>
        h('th', { class: column.number ? 'number' : null }, column.title)))),
      h('tbody', {}, rows.map((row) => h('tr', rowAttributes(row), columns.map((column) =>
        h('td', { class: column.number ? 'number' : null, 'data-column': column.key ?? null },
          column.value(row))))))));
}

export function badge(text, tone) {
  return h('span', { class: `badge ${tone}` }, text);
}

/** "12 s ago", "3 min ago", … with the exact UTC time as the tooltip. */
export function ago(time) {
  if (!time) return h('span', { class: 'muted' }, 'never');
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(time)) / 1000));
  let text;
  if (seconds < 60) text = `${seconds} s ago`;
  else if (seconds < 3600) text = `${Math.floor(seconds / 60)} min ago`;
  else if (seconds < 86400) text = `${Math.floor(seconds / 3600)} h ago`;
  else text = `${Math.floor(seconds / 86400)} d ago`;
  return h('time', { datetime: time, title: utc(time) }, text);
}

export function utc(time) {
  return time ? `${time.replace('T', ' ').replace(/\.\d+/, '').replace('Z', '')} UTC` : '';
}

let toastTimer;
/** A short message at the corner of the screen. */
export function toast(message, { error = false } = {}) {
  const element = document.getElementById('toast');
  fill(element, message);
  element.className = error ? 'error' : '';
  element.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { element.hidden = true; }, error ? 8000 : 4000);
}

/** Runs `refresh` now and every `interval` ms while the tab is visible; returns a stop function. */
export function poll(refresh, interval) {
  let timer;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        await refresh();
      } catch (error) {
        if (error.status !== 401) toast(error.message, { error: true });
      }
    }
    if (!stopped) timer = setTimeout(tick, interval);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** A button that disables itself while its async action runs and reports a failure. */
export function actionButton(label, action, attributes = {}) {
  const button = h('button', { type: 'button', ...attributes }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await action(button);
    } catch (error) {
      toast(error.message, { error: true });
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
