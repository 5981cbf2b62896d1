/* Tawasul web chat: plain JavaScript, no build step, no dependencies.
 *
 * The server's API (bot/chat_page.py, channels/webchat.py):
 *   POST chat/api/session                                          -> 201 {session}
 *   POST chat/api/messages {session, text, button_id?, client_id, attachments?}
 *                                                   -> 202; 403 unknown session;
 *                                                   429 + Retry-After when sending too fast
 *   POST chat/api/uploads?session=   (body: the file itself)       -> 201 {upload, content_type}
 *        an attachment is {upload, content_type, filename}, sent with the next message
 *   GET  chat/api/messages?session=&after=&wait=                   -> {messages, cursor};
 *        Retry-After (on a 200 or a 429) asks the page to wait that long before polling again
 *
 * Text goes out well-formed: a lone UTF-16 surrogate (half an emoji, from a broken paste or
 * input method) becomes U+FFFD before it is shown, stored or sent, so it can never be the
 * message that is retried forever while the later ones wait behind it. A message the server
 * keeps failing (5xx, not an unreachable network) is given up after MAX_SERVER_FAILURES
 * attempts and marked failed, so the ones after it go on.
 *
 * Kept in localStorage (one conversation per browser, whatever the page language):
 *   session     the signed token, so a reload continues the same conversation;
 *   lang        the language the bot is known to answer in (null until the page tells it);
 *   transcript  what the visitor wrote, each with the id of the last reply they had seen when
 *               they wrote it (the server replays only the bot's side) and whether the server
 *               has it, so a reload shows both sides in order and resends what was not taken;
 *   hidden      ids of the bot's replies to the page's own language presses (never shown).
 *
 * Language: the page's language is the visitor's choice, and the bot follows it. Before the
 * first message of a new conversation the page presses the bot's language button for the page
 * ("lang:ar" or "lang:en") without showing the press or the bot's confirmation. When the
 * visitor opens the page in the other language in the middle of a conversation, the press is
 * made at once and the bot's confirmation is shown. When the bot changes language because the
 * visitor asked it to (its own language button, or typing "English"), the page reloads in that
 * language. Page and bot always speak the same language.
 */
(() => {
  "use strict";

  const STORAGE_KEY = "tawasul.chat";
  const MAX_TRANSCRIPT = 200;
  const MAX_HIDDEN = 50;
  const POLL_WAIT = 25; // seconds; the server caps it at 25
  const HIDDEN_REPLY_TIMEOUT = 8000;
  const LANG_PREFIX = "lang:";
  const MAX_SERVER_FAILURES = 10;

  /** The text with every lone surrogate replaced by U+FFFD (String.toWellFormed, or by hand). */
  function wellFormed(text) {
    const s = String(text);
    if (typeof s.toWellFormed === "function") return s.toWellFormed();
    return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
  }

  const script = document.currentScript || document.querySelector('script[src$="chat.js"]');
  const API = new URL("../api/", script.src).href;
  const strings = JSON.parse(document.getElementById("chat-strings").textContent);
  const pageLang = document.documentElement.lang;
  const otherLang = document.querySelector(".chat-lang")?.getAttribute("lang") || null;

  const scroller = document.getElementById("chat-scroll");
  const log = document.getElementById("chat-log");
  const notice = document.getElementById("chat-notice");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const fileInput = document.getElementById("chat-file");
  const attachButton = document.getElementById("chat-attach");

  // ------------------------------------------------------------------ storage ----------
  let memory = null; // when localStorage is unavailable (blocked, some private modes)

  const emptyState = (session) => ({ session, lang: null, transcript: [], hidden: [] });

  function load() {
    let raw = null;
    try {
      raw = window.localStorage.getItem(STORAGE_KEY);
    } catch {
      raw = memory;
    }
    try {
      const data = raw ? JSON.parse(raw) : null;
      if (data && typeof data.session === "string") {
        return {
          session: data.session,
          lang: typeof data.lang === "string" ? data.lang : null,
          // Kept by an older page, a message may hold a lone surrogate: repair it too.
          transcript: Array.isArray(data.transcript)
            ? data.transcript.map((e) => ({ ...e, text: wellFormed(e?.text ?? "") }))
            : [],
          hidden: Array.isArray(data.hidden) ? data.hidden : [],
        };
      }
    } catch {
      /* damaged: start a new conversation */
    }
    return emptyState(null);
  }

  let state = load();

  function save() {
    state.transcript = state.transcript.slice(-MAX_TRANSCRIPT);
    state.hidden = state.hidden.slice(-MAX_HIDDEN);
    const raw = JSON.stringify(state);
    try {
      window.localStorage.setItem(STORAGE_KEY, raw);
    } catch {
      memory = raw;
    }
  }

  // ------------------------------------------------------------------ helpers ----------
  function uuid() {
    if (typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    // crypto.randomUUID needs a secure context (https); getRandomValues does not.
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** Compare two Redis stream ids ("milliseconds-sequence"). */
  function compareIds(a, b) {
    const x = String(a).split("-");
    const y = String(b).split("-");
    for (let i = 0; i < 2; i++) {
      const d = Number(x[i] || 0) - Number(y[i] || 0);
      if (d !== 0) return d < 0 ? -1 : 1;
    }
    return 0;
  }

  let wakers = new Set();
  window.addEventListener("online", () => {
    const waiting = wakers;
    wakers = new Set();
    waiting.forEach((wake) => wake());
  });

  /** Sleep for `ms`; the browser coming back online ends every sleep early. */
  function sleep(ms) {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      wakers.add(wake);
    });
  }

  /** 1 s, 2 s, 4 s … up to 30 s, with jitter so many browsers do not retry in step. */
  function backoff(failures) {
    const base = Math.min(30000, 1000 * 2 ** Math.max(0, failures - 1));
    return sleep(base * (0.75 + Math.random() * 0.5));
  }

  /** fetch with a time limit: resolves {status, data}; rejects when the server is unreachable. */
  async function request(method, url, body, timeoutMs) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const options = {
      method,
      cache: "no-store",
      credentials: "same-origin",
      signal: controller.signal,
      headers: { Accept: "application/json" },
    };
    if (body !== null) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    try {
      const response = await fetch(url, options);
      const data = await response.json().catch(() => null);
      const retryAfter = Math.min(60, Number(response.headers.get("Retry-After")) || 0);
      return { status: response.status, data, retryAfter };
    } finally {
      clearTimeout(timer);
    }
  }

  const retryable = (status) => status >= 500 || status === 429 || status === 408;

  // ------------------------------------------------------------------ the notice -------
  const failing = { poll: false, send: false, session: false, slow: false };

  function setFailing(what, value) {
    failing[what] = value;
    const offline = failing.poll || failing.send || failing.session;
    const text = offline ? strings.offline : strings.slow;
    if ((offline || failing.slow) && notice.textContent !== text) notice.textContent = text;
    notice.hidden = !(offline || failing.slow);
  }

  // ------------------------------------------------------------------ rendering --------
  const URL_PATTERN = /https?:\/\/[^\s<>"«»]+/g;
  const elements = new WeakMap(); // transcript entry -> its bubble

  /** Text with its web addresses made into links, from text nodes only (never innerHTML). */
  function fillText(element, text) {
    let last = 0;
    for (const match of text.matchAll(URL_PATTERN)) {
      const url = match[0].replace(/[.,;:!?؛،)\]]+$/u, "");
      element.append(text.slice(last, match.index));
      const a = document.createElement("a");
      a.href = url;
      a.textContent = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.dir = "ltr";
      element.append(a);
      last = match.index + url.length;
    }
    element.append(text.slice(last));
  }

  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  const scrollDown = () => {
    scroller.scrollTop = scroller.scrollHeight;
  };

  function bubble(kind, label, text) {
    const item = document.createElement("div");
    item.className = `msg msg-${kind}`;
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = `${label} `;
    const body = document.createElement("p");
    body.className = "msg-text";
    body.dir = "auto";
    fillText(body, text);
    item.append(who, body);
    return item;
  }

  /** Only the newest choices can be pressed; writing anything removes them. */
  function removeChoices() {
    log.querySelectorAll(".msg-choices").forEach((group) => group.remove());
  }

  function renderBot(message) {
    const follow = nearBottom();
    const item = bubble("bot", strings.bot, message.text || "");
    item.dataset.id = message.id;
    const buttons = Array.isArray(message.buttons) ? message.buttons : [];
    if (buttons.length) {
      removeChoices();
      const group = document.createElement("div");
      group.className = "msg-choices";
      for (const { id, title } of buttons) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "choice";
        button.textContent = title;
        button.dir = "auto";
        if (String(id).startsWith(LANG_PREFIX)) button.lang = String(id).slice(LANG_PREFIX.length);
        button.addEventListener("click", () => submit(title, id));
        group.append(button);
      }
      item.append(group);
    }
    log.append(item);
    if (follow) scrollDown();
  }

  /** The line under a visitor's bubble: "sending", "retrying", "failed" or none. */
  function setStatus(entry, status) {
    const item = elements.get(entry);
    if (!item) return;
    let line = item.querySelector(".msg-status");
    item.classList.toggle("msg-pending", status === "sending" || status === "retrying");
    item.classList.toggle("msg-failed", status === "failed");
    if (!status) {
      line?.remove();
      return;
    }
    if (!line) {
      line = document.createElement("p");
      line.className = "msg-status";
      item.append(line);
    }
    line.textContent = strings[status];
    // "Sending…" under every message would be noise for screen readers; problems are not.
    line.toggleAttribute("aria-hidden", status === "sending");
  }

  function renderVisitor(entry) {
    const item = bubble("visitor", strings.you, entry.shown || entry.text);
    elements.set(entry, item);
    log.append(item);
    if (entry.state === "pending") setStatus(entry, "sending");
    else if (entry.state === "failed") setStatus(entry, "failed");
    scrollDown();
  }

  // ------------------------------------------------------------------ receiving --------
  let cursor = "0-0";
  let replaying = true; // showing the history after a (re)load
  let replayIndex = 0; // transcript entries shown so far during the replay
  let hiddenWaiter = null; // set while the page waits for the reply to a hidden press
  let settingLanguage = false;

  /** During the replay: show what the visitor wrote before the reply `beforeId`. */
  function showTranscript(beforeId) {
    while (replayIndex < state.transcript.length) {
      const entry = state.transcript[replayIndex];
      if (beforeId !== null && compareIds(entry.after, beforeId) >= 0) break;
      renderVisitor(entry);
      replayIndex++;
    }
  }

  /** The language a message's language button offers (the bot's menu always has one). */
  function offeredLanguage(message) {
    const buttons = Array.isArray(message.buttons) ? message.buttons : [];
    const button = buttons.find((b) => String(b.id).startsWith(LANG_PREFIX));
    return button ? String(button.id).slice(LANG_PREFIX.length) : null;
  }

  /** The bot offers the language it does not speak; if it now speaks another, follow it. */
  function followBot(message) {
    const offered = offeredLanguage(message);
    if (!offered || !otherLang || settingLanguage) return;
    const spoken = offered === pageLang ? otherLang : pageLang;
    if (spoken === state.lang) return;
    state.lang = spoken;
    save();
    if (spoken !== pageLang) {
      const url = new URL(window.location.href);
      url.searchParams.set("lang", spoken);
      window.location.replace(url.href);
    }
  }

  function receive(message, live) {
    if (compareIds(message.id, cursor) <= 0) return;
    cursor = message.id;
    if (replaying) showTranscript(message.id);
    if (state.hidden.includes(message.id)) return;
    if (live && hiddenWaiter && offeredLanguage(message)) {
      state.hidden.push(message.id);
      save();
      hiddenWaiter();
      return;
    }
    renderBot(message);
    if (live) followBot(message);
  }

  /** One read of the reply feed. Resolves whether it brought anything; waits first when the
   * server asked for a pause (Retry-After). */
  async function fetchReplies(wait, live) {
    const token = state.session;
    const url =
      `${API}messages?session=${encodeURIComponent(token)}` +
      `&after=${encodeURIComponent(cursor)}&wait=${wait}`;
    const r = await request("GET", url, null, (wait + 15) * 1000);
    if (token !== state.session) return false; // a new conversation started meanwhile
    if (r.status === 403) {
      await resetSession(token);
      return false;
    }
    if (r.status === 429 && r.retryAfter) {
      await sleep(r.retryAfter * 1000); // this conversation is polled elsewhere already
      return false;
    }
    if (r.status !== 200 || !r.data || !Array.isArray(r.data.messages)) {
      throw new Error(`reply feed answered ${r.status}`);
    }
    setFailing("poll", false);
    r.data.messages.forEach((m) => receive(m, live));
    if (live && r.retryAfter && !r.data.messages.length) await sleep(r.retryAfter * 1000);
    return r.data.messages.length > 0;
  }

  /** Everything the bot already said in this conversation (after a reload). */
  async function catchUp() {
    let failures = 0;
    for (;;) {
      try {
        if (!(await fetchReplies(0, false))) break;
        failures = 0;
      } catch {
        setFailing("poll", true);
        await backoff(++failures);
      }
    }
    showTranscript(null);
    replaying = false;
  }

  async function pollForever() {
    let failures = 0;
    for (;;) {
      try {
        await fetchReplies(POLL_WAIT, true);
        failures = 0;
      } catch {
        setFailing("poll", true);
        await backoff(++failures);
      }
    }
  }

  // ------------------------------------------------------------------ sessions ---------
  async function newSession() {
    let failures = 0;
    for (;;) {
      try {
        const r = await request("POST", `${API}session`, {}, 15000);
        if (r.status === 201 && typeof r.data?.session === "string") {
          setFailing("session", false);
          return r.data.session;
        }
      } catch {
        /* unreachable: retry below */
      }
      setFailing("session", true);
      await backoff(++failures);
    }
  }

  let resetting = null;

  /** The server does not know `token` (its key changed): start a new conversation, once. */
  function resetSession(token) {
    if (state.session !== token) return resetting || Promise.resolve();
    if (!resetting) {
      resetting = newSession().then((session) => {
        const undelivered = state.transcript.filter((e) => e.state === "pending");
        for (const entry of undelivered) {
          entry.cid = uuid(); // client ids are remembered by the server: use new ones
          entry.after = "0-0";
        }
        state = { ...emptyState(session), transcript: undelivered };
        cursor = "0-0";
        save();
        resetting = null;
      });
    }
    return resetting;
  }

  // ------------------------------------------------------------------ sending ----------
  const queue = [];
  let draining = false;
  let ready = false;
  const early = []; // written before the history was shown

  /** POST one message until the server has it: "sent", "rejected" (400, or 5xx too many
   * times) or "reset" (403). Too fast (429): wait as long as the server says, and send again. */
  async function post(text, buttonId, clientId, onRetry, attachments = null) {
    let failures = 0;
    let serverFailures = 0;
    for (;;) {
      const token = state.session;
      const body = { session: token, text: wellFormed(text), client_id: clientId };
      if (buttonId) body.button_id = buttonId;
      if (attachments) body.attachments = attachments;
      try {
        const r = await request("POST", `${API}messages`, body, 20000);
        if (r.status === 202) {
          setFailing("send", false);
          setFailing("slow", false);
          return "sent";
        }
        if (r.status === 403) {
          await resetSession(token);
          return "reset";
        }
        if (r.status === 429) {
          setFailing("slow", true);
          onRetry?.();
          await sleep((r.retryAfter || 5) * 1000);
          continue;
        }
        if (!retryable(r.status) || ++serverFailures >= MAX_SERVER_FAILURES) {
          setFailing("send", false);
          return "rejected";
        }
      } catch {
        /* unreachable: retry with the same client id; the server ignores repeats */
      }
      setFailing("send", true);
      onRetry?.();
      await backoff(++failures);
    }
  }

  /** Press the bot's language button for the page; `quiet` hides the bot's confirmation. */
  async function setLanguage(quiet, onRetry = null) {
    let arrived = null;
    const reply = new Promise((resolve) => {
      arrived = resolve;
    });
    if (quiet) hiddenWaiter = arrived;
    settingLanguage = true;
    try {
      const outcome = await post("", LANG_PREFIX + pageLang, uuid(), onRetry);
      if (outcome === "sent") {
        state.lang = pageLang;
        save();
        if (quiet) await Promise.race([reply, sleep(HIDDEN_REPLY_TIMEOUT)]);
      }
      return outcome;
    } finally {
      settingLanguage = false;
      if (hiddenWaiter === arrived) hiddenWaiter = null;
    }
  }

  async function deliver(entry) {
    const retrying = () => setStatus(entry, "retrying");
    for (;;) {
      if (state.lang !== pageLang) {
        // The press goes first, so the message is answered in the page's language.
        if ((await setLanguage(state.lang === null, retrying)) === "reset") continue;
      }
      const outcome = await post(
        entry.text,
        entry.buttonId || null,
        entry.cid,
        retrying,
        entry.attachments || null,
      );
      if (outcome === "reset") continue; // resetSession gave the entry a new client id
      entry.state = outcome === "sent" ? "sent" : "failed";
      save();
      setStatus(entry, outcome === "sent" ? null : "failed");
      return;
    }
  }

  /** One message at a time, in the order written: the server sees them in that order. */
  async function enqueue(job) {
    queue.push(job);
    if (draining) return;
    draining = true;
    try {
      while (queue.length) await queue.shift()();
    } finally {
      draining = false;
    }
  }

  /** Remember a written message and queue it (once the history is shown). */
  function accept(entry) {
    entry.after = cursor;
    state.transcript.push(entry);
    save();
    enqueue(() => deliver(entry));
  }

  /** The visitor wrote `text`, or pressed the button `buttonId` whose title is `text`. */
  function submit(text, buttonId) {
    removeChoices();
    const entry = { cid: uuid(), text: wellFormed(text), after: null, state: "pending" };
    if (buttonId) entry.buttonId = buttonId;
    renderVisitor(entry);
    if (ready) accept(entry);
    else early.push(entry);
  }

  // ------------------------------------------------------------------ the composer -----
  function fitInput() {
    input.style.height = "auto";
    input.style.height = `${input.scrollHeight}px`;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    input.focus();
    if (!text) return;
    input.value = "";
    fitInput();
    submit(text, null);
  });

  input.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter starts a new line; never while an input method is composing.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener("input", fitInput);

  // ------------------------------------------------------------------ attachments ------
  /** Upload the file (it is stored at once), then send it as a message of its own. */
  async function attach(file) {
    const shown = `📎 ${file.name}`;
    let upload = null;
    try {
      const url = `${API}uploads?session=${encodeURIComponent(state.session)}`;
      const response = await fetch(url, {
        method: "POST",
        cache: "no-store",
        credentials: "same-origin",
        headers: { "Content-Type": file.type || "application/octet-stream" },
        body: file,
      });
      if (response.status === 201) upload = await response.json();
    } catch {
      upload = null;
    }
    if (!upload) {
      const entry = { cid: uuid(), text: "", shown, after: null, state: "failed" };
      renderVisitor(entry);
      notice.textContent = strings.attach_failed;
      notice.hidden = false;
      return;
    }
    removeChoices();
    const attachment = {
      upload: upload.upload,
      content_type: upload.content_type,
      filename: file.name.slice(0, 200),
    };
    const entry = { cid: uuid(), text: "", shown, attachments: [attachment], after: null };
    entry.state = "pending";
    renderVisitor(entry);
    if (ready) accept(entry);
    else early.push(entry);
  }

  attachButton?.addEventListener("click", () => fileInput?.click());
  fileInput?.addEventListener("change", () => {
    const files = Array.from(fileInput.files || []);
    fileInput.value = "";
    for (const file of files) enqueue(() => attach(file));
  });

  // ------------------------------------------------------------------ start ------------
  async function start() {
    if (!state.session) {
      state = emptyState(await newSession());
      save();
    }
    await catchUp();
    for (const entry of early) log.append(elements.get(entry)); // after the history
    scrollDown();
    ready = true;
    // Opened in another language than the conversation's: tell the bot now, visibly.
    if (state.lang !== null && state.lang !== pageLang) enqueue(() => setLanguage(false));
    for (const entry of state.transcript) {
      if (entry.state === "pending") enqueue(() => deliver(entry)); // cut off by a reload
    }
    early.splice(0).forEach(accept);
    pollForever();
  }

  start();
})();
