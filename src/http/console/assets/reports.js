// The Reports page: each channel's sales, stock shown and hours at 0 per period, from
// GET /admin/reports/channels (README "Channel reports" defines every figure), as small SVG
// charts drawn here (nothing loaded from elsewhere) and the numbers beneath them.
import { get } from './api.js';
import { fill, h, toast } from './view.js';

const RANGES = [['7', 'Last 7 days'], ['30', 'Last 30 days'], ['90', 'Last 90 days']];
const GRAINS = [['day', 'By day'], ['week', 'By week'], ['month', 'By month']];
const SVG = 'http://www.w3.org/2000/svg';
const CHART = { width: 420, height: 120, gap: 2 };

export function reportsPage(main, query) {
  const days = query.get('days') ?? '30';
  const granularity = query.get('granularity') ?? 'day';
  const choose = (name, value, options) => h('select', {
    id: `report-${name}`,
    onchange: (event) => { location.hash = `#/reports?${new URLSearchParams({ days, granularity, [name]: event.target.value })}`; },
  }, options.map(([key, label]) => h('option', { value: key, selected: key === value }, label)));
  const body = h('div', { id: 'report' }, h('p', { class: 'muted' }, 'Computing…'));
  fill(main, h('div', { class: 'toolbar' }, h('h1', {}, 'Reports'),
    choose('days', days, RANGES), choose('granularity', granularity, GRAINS)), body);
  const to = new Date();
  const from = new Date(to.getTime() - Number(days) * 86_400_000);
  const path = `/reports/channels?${new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), granularity })}`;
  let left = false;
  get(path).then((report) => {
    if (left) return;
    fill(body,
      h('p', { class: 'muted' }, `${report.from.slice(0, 16)} to ${report.to.slice(0, 16)} UTC, ${report.granularity}s. `,
        'Turnover is units sold ÷ the average units the channel was shown; hours at 0 are listing-hours.'),
      report.channels.length === 0 ? h('p', { class: 'empty' }, 'No channel has booked anything yet.') : null,
      report.channels.map(channelReport));
  }).catch((error) => toast(error.message, { error: true }));
  return () => { left = true; };
}

function channelReport(channel) {
  const periods = channel.periods;
  const totals = sum(periods);
  return h('section', { class: 'report-channel', 'data-channel': channel.channel_id },
    h('h2', {}, channel.channel_id),
    h('dl', { class: 'report-totals' },
      total('orders', 'Orders', totals.orders),
      total('units_sold', 'Units sold', totals.units_sold),
      total('revenue', 'Revenue', revenue(periods)),
      total('cancelled_orders', 'Cancelled orders', totals.cancelled_orders),
      total('units_returned', 'Units returned', totals.units_returned),
      total('oversold_orders', 'Oversold orders', totals.oversold_orders),
      total('hours_zero_with_stock', 'Hours at 0 with stock elsewhere', hours(totals.hours_zero_with_stock)),
      total('hours_stocked_out', 'Hours stocked out', hours(totals.hours_stocked_out))),
    h('div', { class: 'report-charts' },
      chart('Units sold', periods, [{ key: 'units_sold', tone: 'accent' }]),
      chart('Listing-hours at 0', periods, [
        { key: 'hours_zero_with_stock', tone: 'warn', label: 'with stock elsewhere' },
        { key: 'hours_stocked_out', tone: 'bad', label: 'stocked out' }])),
    h('details', {},
      h('summary', {}, 'Every period'),
      h('table', {},
        h('thead', {}, h('tr', {}, ['Period', 'Orders', 'Units sold', 'Cancellation', 'Returns', 'Avg shown', 'Turnover', 'Days of cover']
          .map((title, index) => h('th', { class: index ? 'number' : null }, title)))),
        h('tbody', {}, periods.map((period) => h('tr', { 'data-period': period.start },
          h('td', {}, period.start.slice(0, 10)),
          number(period.orders), number(period.units_sold),
          number(percent(period.cancellation_rate)), number(percent(period.return_rate)),
          number(fixed(period.average_units_shown)), number(fixed(period.inventory_turnover, 2)),
          number(fixed(period.days_of_cover))))))));
}

function sum(periods) {
  const keys = ['orders', 'units_sold', 'cancelled_orders', 'units_returned', 'oversold_orders', 'hours_zero_with_stock', 'hours_stocked_out'];
  return Object.fromEntries(keys.map((key) => [key, periods.reduce((total, period) => total + period[key], 0)]));
}

/** Revenue per currency over the periods, from the lines' prices, in major units for reading. */
function revenue(periods) {
  const byCurrency = new Map();
  for (const entry of periods.flatMap((period) => period.revenue)) {
    const currency = entry.currency ?? '(none)';
    byCurrency.set(currency, (byCurrency.get(currency) ?? 0) + entry.lines_minor);
  }
  if (byCurrency.size === 0) return h('span', { class: 'muted' }, 'none priced');
  return [...byCurrency].map(([currency, minor]) => `${currency} ${minorToText(minor, currency)}`).join(' · ');
}

function minorToText(minor, currency) {
  try {
    const digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
    return (minor / 10 ** digits).toFixed(digits);
  } catch {
    return `${minor} (minor units)`;
  }
}

function total(key, label, value) {
  return [h('dt', {}, label), h('dd', { 'data-total': key }, value)];
}

const number = (value) => h('td', { class: 'number' }, value);
const percent = (rate) => (rate === null ? '—' : `${(rate * 100).toFixed(1)} %`);
const fixed = (value, digits = 1) => (value === null ? '—' : value.toFixed(digits));
const hours = (value) => value.toFixed(1);

/** A bar chart, one bar per period, the series stacked. */
function chart(title, periods, series) {
  const highest = Math.max(1, ...periods.map((period) => series.reduce((total, s) => total + period[s.key], 0)));
  const slot = CHART.width / Math.max(1, periods.length);
  const svg = svgElement('svg', {
    viewBox: `0 0 ${CHART.width} ${CHART.height}`, preserveAspectRatio: 'none', class: 'chart', role: 'img', 'aria-label': title,
  });
  periods.forEach((period, index) => {
    let base = CHART.height;
    for (const s of series) {
      const height = (period[s.key] / highest) * (CHART.height - 4);
      if (height <= 0) continue;
      base -= height;
      const bar = svgElement('rect', {
        x: index * slot + CHART.gap / 2, y: base, width: Math.max(1, slot - CHART.gap), height,
        class: `bar ${s.tone}`, 'data-period': period.start, 'data-series': s.key,
      });
      bar.append(svgElement('title', {}, `${period.start.slice(0, 10)}: ${s.label ?? title} ${period[s.key]}`));
      svg.append(bar);
    }
  });
  return h('figure', { class: 'report-chart' },
    h('figcaption', {}, title, ' ', h('span', { class: 'muted' }, `(highest ${Number.isInteger(highest) ? highest : highest.toFixed(1)})`),
      series.length > 1 ? series.map((s) => h('span', { class: `legend ${s.tone}` }, s.label)) : null),
    svg);
}

function svgElement(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}
