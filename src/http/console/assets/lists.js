// The Jobs, Dead letters and Quarantine pages: lists with their actions (restart, retry,
// discard), refreshed by short polling.
import { get, post, segment } from './api.js';
import { actionButton, ago, badge, fill, h, poll, table, toast } from './view.js';

const REFRESH_MS = 3000;

const STATE_TONE = { succeeded: 'good', failed: 'bad', interrupted: 'bad', running: 'warn', queued: 'muted' };

const KIND_TITLE = { resync: 'resync', discover: 'discovery', channel_count: 'count from channel' };

/** How far a job got: listings of its total, or, for a catalog job, listings and pages read
 * (its total is known only once the last page was read) and, once done, what it found. */
function jobDone(j) {
  if (!j.kind || j.kind === 'resync') return `${j.done}/${j.total}`;
  const read = `${j.done} listings, ${j.pages} pages`;
  const result = j.result;
  if (!result) return read;
  if (j.kind === 'discover') {
    const found = `${result.counts?.new ?? 0} new, ${result.counts?.unmatched ?? 0} unmatched, ${result.counts?.ambiguous ?? 0} ambiguous`;
    return [read, h('div', { class: 'muted' }, result.applied == null ? found : `${found}; ${result.applied} bound`)];
  }
  const changes = result.changes?.length ?? 0;
  return [read, h('div', { class: 'muted' }, result.applied == null ? `${changes} on hand(s) would change` : `${result.applied} count(s) applied`)];
}

export function jobsPage(main) {
  const list = h('div', { id: 'jobs' });
  fill(main, h('div', { class: 'toolbar' }, h('h1', {}, 'Jobs')), list);
  const refresh = async () => {
    const jobs = await get('/jobs?limit=100');
    fill(list, table([
      { title: 'Job', value: (j) => h('span', { class: 'mono', title: j.id }, j.id.slice(0, 12)) },
      { title: 'Channel', value: (j) => j.channel ?? 'every channel' },
      { title: 'Kind', value: (j) => KIND_TITLE[j.kind] ?? j.kind ?? 'resync' },
      { title: 'Mode', value: (j) => j.mode.replace('_', ' ') },
      { title: 'Trigger', value: (j) => j.trigger },
      { title: 'State', key: 'state', value: (j) => badge(j.state, STATE_TONE[j.state] ?? 'muted') },
      { title: 'Done', number: true, value: jobDone },
      { title: 'Pushed', number: true, value: (j) => j.pushed },
      { title: 'Drifts', number: true, value: (j) => j.drifts },
      { title: 'Errors', number: true, value: (j) => [j.errors, j.last_error ? h('div', { class: 'error' }, j.last_error) : null] },
      { title: 'Created', value: (j) => ago(j.created_at) },
      { title: 'Finished', value: (j) => (j.finished_at ? ago(j.finished_at) : '') },
      { title: '', value: (j) => (['failed', 'interrupted'].includes(j.state)
        ? actionButton('Restart', async () => {
          const { data } = await post(`/jobs/${segment(j.id)}/restart`);
          toast(`restarted as ${data.id.slice(0, 12)}`);
          await refresh();
        }, { class: 'secondary' })
        : null) },
    ], jobs, { empty: 'No resync, reconciliation, discovery or count has run yet.', rowAttributes: (j) => ({ 'data-job-id': j.id, 'data-job-state': j.state }) }));
  };
  return poll(refresh, REFRESH_MS);
}

/** A filter by channel kept in the address (#/dead-letters?channel=x). */
function channelFilter(page, query) {
  const channel = query.get('channel') ?? '';
  const input = h('input', { type: 'search', placeholder: 'every channel', value: channel, id: `${page}-channel` });
  const form = h('form', {}, h('label', { for: input.id }, 'Channel '), input);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = input.value.trim();
    location.hash = `#/${page}${value ? `?channel=${encodeURIComponent(value)}` : ''}`;
  });
  return { form, query: channel ? `?channel=${encodeURIComponent(channel)}` : '' };
}

export function deadLettersPage(main, query) {
  const list = h('div', { id: 'dead-letters' });
  const filter = channelFilter('dead-letters', query);
  fill(main, h('div', { class: 'toolbar' }, h('h1', {}, 'Dead letters'), filter.form),
    h('p', { class: 'muted' }, 'Listing updates a channel refused for good. Retry sends the listing\'s quantity now; discard drops the letter (the next stock change pushes it again).'),
    list);
  const refresh = async () => {
    const letters = await get(`/dead-letters${filter.query}`);
    fill(list, table([
      { title: 'Channel', value: (d) => d.channel },
      { title: 'Listing', value: (d) => h('span', { class: 'mono' }, d.listing_id) },
      { title: 'SKU', value: (d) => h('a', { href: `#/items/${segment(d.sku)}`, class: 'mono' }, d.sku) },
      { title: 'Refused quantity', number: true, value: (d) => d.quantity },
      { title: 'Error', value: (d) => h('span', { class: 'error' }, d.error) },
      { title: 'Attempts', number: true, value: (d) => d.attempts },
      { title: 'Last failed', value: (d) => ago(d.last_failed_at) },
      { title: '', value: (d) => actions(`/dead-letters/${d.id}`, refresh) },
    ], letters, { empty: 'No dead letters.', rowAttributes: (d) => ({ 'data-dead-letter': d.id }) }));
  };
  return poll(refresh, REFRESH_MS);
}

export function quarantinePage(main, query) {
  const list = h('div', { id: 'quarantine' });
  const filter = channelFilter('quarantine', query);
  fill(main, h('div', { class: 'toolbar' }, h('h1', {}, 'Quarantined orders'), filter.form),
    h('p', { class: 'muted' }, 'Order events the ledger refused for good. Retry books the stored event again; discard drops it (nothing of it is booked).'),
    list);
  const refresh = async () => {
    const orders = await get(`/quarantine${filter.query}`);
    fill(list, table([
      { title: 'Channel', value: (q) => q.channel },
      { title: 'Order', value: (q) => h('span', { class: 'mono' }, q.order) },
      { title: 'Updated', value: (q) => ago(q.order_updated_at) },
      { title: 'Error', value: (q) => h('span', { class: 'error' }, q.error) },
      { title: 'Attempts', number: true, value: (q) => q.attempts },
      { title: 'Last failed', value: (q) => ago(q.last_failed_at) },
      { title: '', value: (q) => actions(`/quarantine/${q.id}`, refresh) },
    ], orders, { empty: 'No quarantined orders.', rowAttributes: (q) => ({ 'data-quarantined': q.id }) }));
  };
  return poll(refresh, REFRESH_MS);
}

function actions(path, refresh) {
  return h('span', { class: 'actions' },
    actionButton('Retry', async () => {
      const { data } = await post(`${path}/retry`);
      toast(data.error ? `retried: ${data.error}` : `retry: ${data.result ?? data.status}`);
      await refresh();
    }, { class: 'secondary', 'data-action': 'retry' }),
    ' ',
    actionButton('Discard', async () => {
      if (!confirm('Discard it for good?')) return;
      await post(`${path}/discard`);
      toast('discarded');
      await refresh();
    }, { class: 'danger', 'data-action': 'discard' }));
}
