// Signs the operator in and shows the page the address names (#/channels, #/items/SKU, …).
import { get, session, whenRefused } from './api.js';
import { fill, h } from './view.js';
import { channelsPage } from './channels.js';
import { itemPage, itemsPage } from './items.js';
import { deadLettersPage, jobsPage, quarantinePage } from './lists.js';
import { reportsPage } from './reports.js';

const main = document.getElementById('main');
const login = document.getElementById('login');
const top = document.getElementById('top');
const loginError = document.getElementById('login-error');

// The page shown now; calling it stops its polling.
let leave = () => {};

function showLogin(reason) {
  leave();
  leave = () => {};
  session.signOut();
  fill(main);
  top.hidden = true;
  login.hidden = false;
  loginError.hidden = !reason;
  loginError.textContent = reason ?? '';
  document.getElementById('token').focus();
}

whenRefused((reason) => showLogin(`Wrong admin token: the daemon refused it (${reason}). Check admin.token in the daemon's settings.`));

/** The page and its parameters from the address: "#/items/ABC?x=1" → items, ["ABC"], {x: 1}. */
function route() {
  const [path, query] = (location.hash.replace(/^#\/?/, '') || 'channels').split('?');
  const [page, ...rest] = path.split('/').map(decodeURIComponent);
  return { page, rest, query: new URLSearchParams(query ?? '') };
}

const PAGES = {
  channels: () => channelsPage(main),
  items: ({ rest, query }) => (rest[0] ? itemPage(main, rest[0], query) : itemsPage(main, query)),
  jobs: () => jobsPage(main),
  'dead-letters': ({ query }) => deadLettersPage(main, query),
  quarantine: ({ query }) => quarantinePage(main, query),
  reports: ({ query }) => reportsPage(main, query),
};

function show() {
  if (!session.token()) {
    showLogin();
    return;
  }
  leave();
  document.getElementById('toast').hidden = true;
  login.hidden = true;
  top.hidden = false;
  const current = route();
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('current', link.dataset.page === current.page);
  }
  const page = PAGES[current.page];
  if (!page) {
    fill(main, h('p', { class: 'error' }, `No page ${current.page}.`));
    leave = () => {};
    return;
  }
  document.title = `omnistock · ${current.page}`;
  leave = page(current) ?? (() => {});
}

document.getElementById('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = document.getElementById('token');
  const button = document.getElementById('sign-in');
  button.disabled = true;
  loginError.hidden = true;
  session.signIn(input.value.trim());
  try {
    // Any admin call checks the token; this one is needed by the first page anyway.
    await get('/channels');
    input.value = '';
    show();
  } catch (error) {
    // A refused token has already brought the form back with its reason.
    if (error.status !== 401) {
      session.signOut();
      loginError.hidden = false;
      loginError.textContent = error.message;
    }
  } finally {
    button.disabled = false;
  }
});

document.getElementById('sign-out').addEventListener('click', () => showLogin());
window.addEventListener('hashchange', show);
show();
