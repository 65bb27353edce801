// The console's only way to the daemon: the admin API under /admin, with the admin token the
// operator signed in with. The token lives in this tab's sessionStorage and nowhere else.

const TOKEN_KEY = 'omnistock.admin-token';

export class ApiError extends Error {
  constructor(status, message, field, body) {
    super(message);
    this.status = status;
    this.field = field;
    this.body = body;
  }
}

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  signOut: () => sessionStorage.removeItem(TOKEN_KEY),
};

// Called when the API refuses the token (set by main.js: back to the login form).
let onRefused = () => {};
export function whenRefused(handler) {
  onRefused = handler;
}

/** Calls the admin API; resolves to { status, data } or throws an ApiError. */
export async function call(method, path, body, headers = {}) {
  const request = {
    method,
    cache: 'no-store',
    headers: { Accept: 'application/json', Authorization: `Bearer ${session.token() ?? ''}`, ...headers },
  };
  if (body !== undefined) {
    request.headers['Content-Type'] = 'application/json';
    request.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/admin${path}`, request);
  } catch (error) {
    throw new ApiError(0, `the daemon did not answer (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text };
    }
  }
  if (response.status === 401) {
    const reason = data?.error ?? 'missing or wrong bearer token';
    onRefused(reason);
    throw new ApiError(401, `the daemon refused the admin token: ${reason}`);
  }
  if (!response.ok) {
    const field = data?.field;
    const reason = data?.error ?? `HTTP ${response.status}`;
    throw new ApiError(response.status, field ? `${field}: ${reason}` : reason, field, data);
  }
  return { status: response.status, data };
}

export const get = async (path) => (await call('GET', path)).data;
export const post = (path, body, headers) => call('POST', path, body, headers);

/** A fresh idempotency key for one stock change (kept by its form until the change is done). */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

/** Path segment of a SKU or id. */
export const segment = (text) => encodeURIComponent(text);

/** Waits until the job is finished, telling `progress` each state seen; resolves to the last. */
export async function followJob(id, progress, { interval = 500, stopped = () => false } = {}) {
  for (;;) {
    const job = await get(`/jobs/${segment(id)}`);
    progress(job);
    if (!['queued', 'running'].includes(job.state) || stopped()) {
      return job;
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
