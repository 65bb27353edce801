// The Channels page: one card per channel, refreshed by short polling, with pause/resume and
// resync/reconcile buttons that follow the job they start to its end.
import { followJob, get, post, segment } from './api.js';
import { actionButton, ago, badge, fill, h, poll, toast } from './view.js';

const REFRESH_MS = 2000;

export function channelsPage(main) {
  const grid = h('div', { class: 'cards', id: 'channel-cards' });
  const updated = h('span', { class: 'muted', id: 'channels-updated' });
  fill(main, h('div', { class: 'toolbar' }, h('h1', {}, 'Channels'), updated), grid);
  const cards = new Map();
  let leaving = false;

  const refresh = async () => {
    const channels = await get('/channels');
    for (const channel of channels) {
      let card = cards.get(channel.id);
      if (!card) {
        card = newCard(channel.id, refresh, () => leaving);
        cards.set(channel.id, card);
        grid.append(card.element);
      }
      card.show(channel);
    }
    fill(updated, `updated ${new Date().toISOString().slice(11, 19)} UTC`);
  };
  const stop = poll(refresh, REFRESH_MS);
  return () => {
    leaving = true;
    stop();
  };
}

function newCard(id, refresh, leaving) {
  const title = h('h2', {}, id);
  const kind = h('span', { class: 'muted' });
  const badges = h('span', { class: 'badges' });
  const stats = h('dl');
  const pause = h('button', { type: 'button', class: 'secondary', 'data-action': 'pause' });
  const job = h('div', { class: 'job', 'data-job': '' });
  const element = h('article', { class: 'card', 'data-channel': id },
    h('header', {}, title, kind, badges), stats,
    h('div', { class: 'actions' },
      pause,
      actionButton('Resync', () => startJob(id, 'push', job, refresh, leaving),
        { class: 'secondary', 'data-action': 'resync', title: 'Push every listing\'s quantity again' }),
      actionButton('Reconcile', () => startJob(id, 'reconcile', job, refresh, leaving),
        { class: 'secondary', 'data-action': 'reconcile', title: 'Read the channel\'s stock and fix what differs' })),
    job);
  let paused = false;
  pause.addEventListener('click', async () => {
    pause.disabled = true;
    try {
      await post(`/channels/${segment(id)}/${paused ? 'resume' : 'pause'}`);
      toast(`${id} ${paused ? 'resumed' : 'paused'}`);
      await refresh();
    } catch (error) {
      toast(error.message, { error: true });
    } finally {
      pause.disabled = false;
    }
  });

  const show = (channel) => {
    paused = channel.paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.dataset.action = paused ? 'resume' : 'pause';
    fill(kind, channel.kind);
    const degraded = channel.push.degraded === true;
    const failing = (channel.push.last_error || (channel.alerts ?? []).length) && !degraded;
    element.className = ['card', !channel.enabled && 'disabled', paused && 'paused',
      degraded && 'degraded', (channel.alerts ?? []).length && 'failing'].filter(Boolean).join(' ');
    fill(badges,
      channel.enabled ? null : badge('disabled', 'muted'),
      paused ? badge('paused', 'warn') : null,
      degraded ? badge('degraded', 'bad') : null,
      (channel.alerts ?? []).length ? badge('needs attention', 'bad') : null,
      channel.enabled && !paused && !degraded && !failing ? badge('healthy', 'good') : null,
      channel.push.last_error && !degraded ? badge('errors', 'warn') : null);
    fill(stats, ...rows(channel));
  };
  return { element, show };
}

function stat(key, label, ...value) {
  return [h('dt', {}, label), h('dd', { 'data-stat': key }, ...value)];
}

function rows(channel) {
  const push = channel.push;
  const webhooks = Object.entries(channel.webhooks_last_hour);
  const budget = channel.rate_limit;
  return [
    stat('enabled', 'Enabled', channel.enabled ? 'yes' : 'no'),
    stat('paused', 'Paused', channel.paused ? 'yes' : 'no'),
    stat('leader', 'Leader', channel.leader
      ? h('span', {}, channel.leader.replica, channel.leader.this_replica ? h('span', { class: 'muted' }, ' (this replica)') : null)
      : h('span', { class: 'muted' }, channel.enabled ? 'none (takeover under way)' : 'not synced')),
    stat('degraded', 'Degraded', push.degraded === null ? 'unknown' : push.degraded ? 'yes' : 'no'),
    stat('last-pull', 'Last order pull',
      channel.orders.polled ? ago(channel.orders.last_pull_at) : h('span', { class: 'muted' }, 'webhooks only')),
    stat('webhooks', 'Webhooks, last hour',
      webhooks.length === 0 ? h('span', { class: 'muted' }, 'none')
        : webhooks.map(([status, count], index) =>
          h('span', { 'data-status': status }, index ? ' · ' : '', `${status}: `, h('b', {}, count)))),
    stat('backlog', 'Backlog', `${push.backlog_skus} SKUs`),
    stat('out-of-date', 'Listings out of date',
      push.listings_out_of_date === null ? h('span', { class: 'muted' }, 'counting…') : String(push.listings_out_of_date)),
    stat('last-confirmed', 'Last push confirmed', ago(push.last_confirmed_at)),
    stat('sweep', 'Sweep', push.sweep
      ? `${push.sweep.cause}: ${push.sweep.skus_read} SKUs read`
      : h('span', {}, 'idle', push.last_sweep_done_at ? [', last done ', ago(push.last_sweep_done_at)] : null)),
    stat('rate-limit', 'Rate-limit budget', budget.limit
      ? `${budget.limit}: ${budget.calls_last_minute} calls last minute, ${budget.remaining_per_minute} left`
      : `no limit; ${budget.calls_last_minute} calls last minute`),
    stat('last-error', 'Last error', push.last_error
      ? h('span', { class: 'error' }, push.last_error.error, ' (', ago(push.last_error.at), ')')
      : h('span', { class: 'muted' }, 'none')),
    stat('dead-letters', 'Dead letters', channel.dead_letters > 0
      ? h('a', { href: `#/dead-letters?channel=${segment(channel.id)}` }, String(channel.dead_letters))
      : '0'),
    stat('quarantined', 'Quarantined orders', channel.quarantined_orders > 0
      ? h('a', { href: `#/quarantine?channel=${segment(channel.id)}` }, String(channel.quarantined_orders))
      : '0'),
    stat('alerts', 'Alerts', (channel.alerts ?? []).length
      ? h('ul', { class: 'alerts' }, channel.alerts.map((alert) => h('li', { class: 'error' }, alert)))
      : h('span', { class: 'muted' }, 'none')),
    stat('reconciliation', 'Last reconciliation', channel.reconciliation
      ? [ago(channel.reconciliation.finished_at), `, ${channel.reconciliation.drifts} drifts`]
      : h('span', { class: 'muted' }, 'never')),
  ];
}

/** Starts a resync of the channel (or follows the overlapping one already running). */
async function startJob(channel, mode, target, refresh, leaving) {
  let job;
  try {
    job = (await post('/resync', { channel, mode })).data;
  } catch (error) {
    if (error.status !== 409 || !error.body?.job_id) throw error;
    toast(`A job of this channel is already under way: following ${error.body.job_id}`);
    job = await get(`/jobs/${segment(error.body.job_id)}`);
  }
  const last = await followJob(job.id, (seen) => fill(target, ...jobProgress(seen)),
    { stopped: leaving });
  if (last.state === 'succeeded') toast(`${channel}: ${last.mode} finished`);
  else if (!['queued', 'running'].includes(last.state)) toast(`${channel}: ${last.mode} ${last.state}`, { error: true });
  await refresh();
}

export function jobProgress(job) {
  const finished = !['queued', 'running'].includes(job.state);
  const tone = { succeeded: 'good', failed: 'bad', interrupted: 'bad' }[job.state] ?? 'warn';
  return [
    h('div', { 'data-job-id': job.id, 'data-job-state': job.state },
      `${job.mode} job `, h('a', { href: '#/jobs', class: 'mono' }, job.id.slice(0, 12)), ' ',
      badge(job.state, tone)),
    finished ? null : h('progress', { max: Math.max(job.total, 1), value: job.done }),
    h('div', { class: 'muted' },
      `${job.done}/${job.total} listings, ${job.pushed} pushed, ${job.drifts} drifts, ${job.errors} errors`,
      job.last_error ? h('span', { class: 'error' }, ` — ${job.last_error}`) : null),
  ];
}
