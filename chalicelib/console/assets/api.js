// The REST API of the same deployment, called with the token kept in sessionStorage (never in a URL).

const TOKEN_KEY = "activelabel.token";

// The deployment's root: the page is served at <root>ui/ ("/ui/" locally, "/api/ui/" behind a stage).
export const root = location.pathname.replace(/ui\/[^/]*$/, "");

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.Message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.Code;
    this.field = (body && body.Field) || null;
    this.body = body;
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export async function call(method, path, body, extraHeaders = {}) {
  const headers = { Authorization: `Token ${token.get() || ""}`, Accept: "application/json", ...extraHeaders };
  const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(root + path, init);
  } catch (e) {
    throw new ApiError(0, { Code: "NetworkError", Message: `the API did not answer (${e.message})` });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { Message: text.slice(0, 300) };
    }
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const api = {
  get: (path) => call("GET", path),
  post: (path, body, headers) => call("POST", path, body === undefined ? {} : body, headers),
  put: (path, body) => call("PUT", path, body),
  del: (path) => call("DELETE", path),
};

export const project = (id, rest = "") => `api/projects/${encodeURIComponent(id)}${rest}`;
