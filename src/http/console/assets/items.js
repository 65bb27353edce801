// The Items pages: search by SKU or title; one item's balances, reservations, journal (paged),
// the explain view per channel, and the adjustment and transfer forms.
import { ApiError, call, get, newIdempotencyKey, post, segment } from './api.js';
import { actionButton, ago, badge, fill, h, table, toast, utc } from './view.js';

const JOURNAL_PAGE = 20;

export function itemsPage(main, query) {
  const input = h('input', { type: 'search', name: 'q', id: 'item-search', placeholder: 'SKU or title', value: query.get('q') ?? '' });
  const results = h('div', { id: 'item-results' });
  const search = async () => {
    try {
      const text = input.value.trim();
      history.replaceState(null, '', `#/items${text ? `?q=${encodeURIComponent(text)}` : ''}`);
      const items = await get(`/items?q=${encodeURIComponent(text)}&limit=100`);
      fill(results, table([
        { title: 'SKU', value: (item) => h('a', { href: `#/items/${segment(item.sku)}`, class: 'mono' }, item.sku) },
        { title: 'Title', value: (item) => item.title },
        { title: 'Available', number: true, key: 'available', value: (item) => item.available },
      ], items, { empty: text ? `No item's SKU or title contains "${text}".` : 'No items yet.',
        rowAttributes: (item) => ({ 'data-sku': item.sku }) }));
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) fill(results, h('p', { class: 'error' }, error.message));
    }
  };
  const form = h('form', { class: 'toolbar', id: 'item-search-form' },
    h('h1', {}, 'Items'), input, h('button', { type: 'submit' }, 'Search'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    search();
  });
  fill(main, form, results);
  search();
}

export function itemPage(main, sku, query) {
  const heading = h('div', { class: 'toolbar' },
    h('h1', {}, 'Item ', h('span', { class: 'mono', id: 'item-sku' }, sku)),
    h('a', { href: '#/items' }, 'All items'));
  const summary = h('section', { id: 'item-summary' });
  const explain = h('section', { id: 'explain' });
  const reservations = h('section', { id: 'reservations' });
  const journal = h('section', { id: 'journal' });
  const forms = h('section', { class: 'columns', id: 'stock-forms' });
  fill(main, heading, summary, explain, h('div', { class: 'columns' }, reservations, journal), forms);

  const state = { channel: query.get('channel') ?? '', journalAfter: [] };
  const load = async () => {
    let item;
    try {
      item = await get(`/items/${segment(sku)}`);
    } catch (error) {
      if (error.status !== 401) fill(summary, h('p', { class: 'error' }, error.message));
      return;
    }
    showSummary(summary, item);
    showReservations(reservations, item);
    await Promise.all([
      showExplain(explain, item, state, load),
      showJournal(journal, sku, state),
    ]);
    if (!forms.hasChildNodes()) fill(forms, adjustmentForm(item, load), transferForm(item, load));
    else for (const list of forms.querySelectorAll('datalist')) fillLocations(list, item);
  };
  load();
}

function showSummary(section, item) {
  fill(section,
    h('p', {}, 'Available over every location: ', h('b', { id: 'item-available' }, item.available)),
    h('h2', {}, 'Balances per location'),
    table([
      { title: 'Location', value: (b) => b.location },
      { title: 'On hand', number: true, key: 'on_hand', value: (b) => b.on_hand },
      { title: 'Reserved', number: true, key: 'reserved', value: (b) => b.reserved },
      { title: 'Available', number: true, key: 'available', value: (b) => b.available },
    ], item.balances, { empty: 'No stock booked anywhere yet.', rowAttributes: (b) => ({ 'data-location': b.location }) }));
}

function showReservations(section, item) {
  fill(section, h('h2', {}, 'Open reservations'),
    table([
      { title: 'Channel', value: (r) => r.channel_id },
      { title: 'Order', value: (r) => h('span', { class: 'mono' }, r.external_order_id) },
      { title: 'Location', value: (r) => r.location },
      { title: 'Units', number: true, value: (r) => r.quantity },
    ], item.reservations, { empty: 'No open order holds this item.' }));
}

async function showJournal(section, sku, state) {
  const after = state.journalAfter.at(-1) ?? 0;
  const page = await get(`/items/${segment(sku)}/movements?after=${after}&limit=${JOURNAL_PAGE}`);
  const reload = () => showJournal(section, sku, state);
  const number = state.journalAfter.length + 1;
  fill(section, h('h2', {}, 'Journal'),
    table([
      { title: '#', number: true, value: (m) => m.id },
      { title: 'When', value: (m) => h('span', { title: utc(m.created_at) }, ago(m.created_at)) },
      { title: 'Location', value: (m) => m.location },
      { title: 'On hand', number: true, value: (m) => signed(m.on_hand_delta) },
      { title: 'Reserved', number: true, value: (m) => signed(m.reserved_delta) },
      { title: 'Why', value: (m) => [m.reason, m.reference ? [' ', h('span', { class: 'mono muted' }, m.reference)] : null] },
      { title: 'Who', value: (m) => [m.actor ?? '', m.note ? h('div', { class: 'muted' }, m.note) : null] },
    ], page.movements, { empty: 'Nothing journaled yet.', rowAttributes: (m) => ({ 'data-movement': m.id }) }),
    h('div', { class: 'toolbar', id: 'journal-pages' },
      h('span', { class: 'muted', 'data-page': number }, `page ${number}`),
      actionButton('First page', async () => { state.journalAfter = []; await reload(); },
        { class: 'secondary', disabled: number === 1, 'data-action': 'journal-first' }),
      actionButton('Next page', async () => { state.journalAfter.push(page.next_after); await reload(); },
        { class: 'secondary', disabled: page.next_after === null, 'data-action': 'journal-next' })));
}

const signed = (n) => (n > 0 ? `+${n}` : String(n));

async function showExplain(section, item, state, reload) {
  const select = h('select', { id: 'explain-channel' },
    h('option', { value: '' }, 'every channel'),
    item.channels.map((c) => h('option', { value: c.channel, selected: c.channel === state.channel }, c.channel)));
  select.addEventListener('change', () => {
    state.channel = select.value;
    reload();
  });
  const channelQuery = state.channel ? `?channel=${encodeURIComponent(state.channel)}` : '';
  const explained = await get(`/items/${segment(item.sku)}/explain${channelQuery}`);
  fill(section,
    h('div', { class: 'toolbar' }, h('h2', {}, 'Why each channel shows what it shows'),
      h('label', { for: 'explain-channel' }, 'Channel'), select,
      actionButton('Refresh', reload, { class: 'secondary' })),
    explained.channels.map((channel) => h('div', { class: 'explain-channel', 'data-channel': channel.channel },
      h('h3', {}, channel.channel, ' ',
        channel.paused ? badge('paused', 'warn') : null,
        channel.degraded ? badge('degraded', 'bad') : null),
      channel.listings.length === 0
        ? h('p', { class: 'empty' }, 'No listing of this channel takes this item.')
        : channel.listings.map(explainListing))));
}

function explainListing(listing) {
  const confirmed = listing.last_confirmed_quantity;
  return h('div', { class: 'explain', 'data-listing': listing.listing_id },
    h('div', { class: 'result' },
      'Listing ', h('b', { class: 'mono' }, listing.listing_id), ' should show ',
      h('b', { 'data-explain': 'quantity' }, listing.quantity), '; the channel last confirmed ',
      h('b', { 'data-explain': 'confirmed' }, confirmed ?? 'nothing yet'),
      listing.last_confirmed_at ? [' (', ago(listing.last_confirmed_at), ')'] : null, ' ',
      listing.in_step ? badge('in step', 'good') : badge('differs', 'warn'),
      listing.sync_enabled ? null : [' ', badge('sync off', 'muted')]),
    listing.not_pushed_because.length
      ? h('div', {}, 'Not pushed yet because: ',
        h('ul', { 'data-explain': 'reasons' }, listing.not_pushed_because.map((reason) => h('li', {}, reason))))
      : null,
    h('div', { class: 'columns' },
      h('div', {},
        h('h3', {}, 'Stock it is computed from'),
        listing.components.map((component) => h('div', { 'data-component': component.sku },
          h('p', {}, h('span', { class: 'mono' }, component.sku),
            component.per_unit > 1 ? ` × ${component.per_unit} per listing unit` : null,
            ': ', h('b', { 'data-explain': 'available' }, component.available), ' available where the channel sells from'),
          table([
            { title: 'Location', value: (l) => [l.location, l.feeds_channel ? null : [' ', badge('not sold here', 'muted')]] },
            { title: 'On hand', number: true, key: 'on_hand', value: (l) => l.on_hand },
            { title: 'Reserved', number: true, key: 'reserved', value: (l) => l.reserved },
            { title: 'Available', number: true, key: 'available', value: (l) => l.available },
          ], component.locations, { rowAttributes: (l) => ({ 'data-location': l.location }) })))),
      h('div', {},
        h('h3', {}, 'Rules in force'),
        table([
          { title: 'Rule', value: ([name]) => name.replaceAll('_', ' ') },
          { title: 'Value', value: ([name, rule]) => ruleValue(name, rule.value) },
          { title: 'From', value: ([, rule]) => rule.from },
        ], Object.entries(listing.rules), { rowAttributes: ([name]) => ({ 'data-rule': name }) }))),
    h('h3', {}, 'Steps'),
    h('ol', { 'data-explain': 'steps' }, listing.steps.map((step) => h('li', {}, describeStep(step, listing)))));
}

function ruleValue(name, value) {
  if (name === 'percentage') return `${value ?? 100} %`;
  if (value === null) return h('span', { class: 'muted' }, 'none');
  if (Array.isArray(value)) return value.length ? value.join(', ') : 'every location';
  return String(value);
}

function describeStep(step, listing) {
  switch (step.rule) {
    case 'fixed':
      return `fixed quantity: ${step.quantity}`;
    case 'component': {
      const sku = listing.components[step.index]?.sku ?? `component ${step.index}`;
      return `${sku}: ${step.available} available, ${step.after_safety_buffer} after the safety buffer, `
        + `${step.after_percentage} after the percentage, ÷ ${step.per_unit} = ${step.units} units`;
    }
    case 'scarcest':
      return `the scarcest component gives ${step.units} units`;
    case 'show_zero_below':
      return `show zero below ${step.threshold}: ${step.before} → ${step.after}`;
    case 'maximum':
      return `at most ${step.maximum}: ${step.before} → ${step.after}`;
    default:
      return JSON.stringify(step);
  }
}

function fillLocations(list, item) {
  fill(list, item.balances.map((b) => h('option', { value: b.location })));
}

/** One stock form: its fields, a key made when it is shown and kept until the change is done. */
function stockForm({ id, title, fields, item, submit, reload }) {
  let key = newIdempotencyKey();
  const keyView = h('span', { class: 'key mono', 'data-idempotency-key': '' }, key);
  const outcome = h('p', { class: 'full', role: 'status', 'data-outcome': '' });
  const locations = h('datalist', { id: `${id}-locations` });
  fillLocations(locations, item);
  const form = h('form', { class: 'stock panel', id },
    h('h2', { class: 'full' }, title),
    fields.map(([name, label, attributes]) => [
      h('label', { for: `${id}-${name}` }, label),
      h('input', { id: `${id}-${name}`, name, ...attributes,
        list: attributes.location ? locations.id : null, location: null }),
    ]),
    h('span', { class: 'muted' }, 'Idempotency key'), keyView,
    h('button', { type: 'submit', class: 'full' }, title),
    outcome, locations);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    const values = Object.fromEntries(new FormData(form));
    try {
      const { status } = await submit(values, key);
      const already = status === 200;
      fill(outcome, already ? 'Already applied under this key: nothing was changed twice.' : 'Applied.');
      outcome.className = 'full';
      toast(`${item.sku}: ${title.toLowerCase()} ${already ? 'was already applied' : 'applied'}`);
      // The change is done: the next one gets its own key. After a failure the key stays, so
      // sending the same form again cannot apply it twice.
      key = newIdempotencyKey();
      keyView.textContent = key;
      await reload();
    } catch (error) {
      fill(outcome, error.message);
      outcome.className = 'full error';
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

const whole = (text) => (text === undefined || text.trim() === '' ? undefined : Number(text));

function adjustmentForm(item, reload) {
  return stockForm({
    id: 'adjust',
    title: 'Adjust stock',
    item,
    reload,
    fields: [
      ['location', 'Location', { required: true, location: true, autocomplete: 'off' }],
      ['delta', 'Change (±)', { type: 'number', step: 1, placeholder: 'e.g. -2 (damaged)' }],
      ['counted', 'Or counted', { type: 'number', step: 1, min: 0, placeholder: 'a stock-take' }],
      ['actor', 'Who', { required: true, value: 'console' }],
      ['reason', 'Why', { required: true }],
    ],
    submit: (values, key) => call('POST', '/stock/adjustments', {
      sku: item.sku,
      location: values.location,
      delta: whole(values.delta),
      counted: whole(values.counted),
      actor: values.actor,
      reason: values.reason,
      idempotency_key: key,
    }),
  });
}

function transferForm(item, reload) {
  return stockForm({
    id: 'transfer',
    title: 'Transfer stock',
    item,
    reload,
    fields: [
      ['from', 'From', { required: true, location: true, autocomplete: 'off' }],
      ['to', 'To', { required: true, location: true, autocomplete: 'off' }],
      ['quantity', 'Units', { type: 'number', step: 1, min: 1, required: true }],
      ['actor', 'Who', { required: true, value: 'console' }],
      ['reason', 'Why', { required: true }],
    ],
    submit: (values, key) => post('/stock/transfers', {
      sku: item.sku,
      from: values.from,
      to: values.to,
      quantity: whole(values.quantity),
      actor: values.actor,
      reason: values.reason,
      idempotency_key: key,
    }),
  });
}
