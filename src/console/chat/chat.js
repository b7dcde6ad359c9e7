// @ts-check
/**
 * The chat demo served by `volley serve` at /demo/chat: rooms, nicknames, history on join, presence, a
 * typing indicator and a reconnect banner, on the Volley browser SDK (/volley-client.js). See docs/demo.md.
 *
 * The URL may carry `?room=NAME`, `?nick=NAME` and, to try the fallbacks by hand,
 * `?transports=sse,polling`. The nickname and the rooms joined are remembered in localStorage.
 *
 * @module
 */

import { Volley } from '/volley-client.js';
import { ConnectionView } from './connection.js';
import { PresenceList } from './presence.js';
import { Room } from './room.js';

const ROOM_NAME = /^[a-z0-9_-]{1,32}$/;
const DEFAULT_ROOMS = ['lobby', 'random'];
const TRANSPORTS = ['websocket', 'sse', 'polling'];

/** @template {HTMLElement} T @returns {T} */
function $(/** @type {string} */ id) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} is missing from the page`);
  return /** @type {T} */ (el);
}

/** localStorage, or nothing where storage is off. */
const store = {
  get(/** @type {string} */ key) {
    try {
      return localStorage.getItem(`volley-chat:${key}`);
    } catch {
      return null;
    }
  },
  set(/** @type {string} */ key, /** @type {string} */ value) {
    try {
      localStorage.setItem(`volley-chat:${key}`, value);
    } catch {
      // Private mode or storage off: nothing is remembered.
    }
  },
};

function cleanNick(/** @type {string | null} */ nick) {
  const clean = (nick ?? '').replace(/\s+/g, ' ').trim().slice(0, 24);
  return clean !== '' ? clean : null;
}

const params = new URLSearchParams(location.search);
let nick = cleanNick(params.get('nick')) ?? cleanNick(store.get('nick')) ?? `guest-${Math.floor(1000 + Math.random() * 9000)}`;
const wanted = params.get('room') ?? store.get('room') ?? 'lobby';
let roomName = ROOM_NAME.test(wanted) ? wanted : 'lobby';
const rooms = new Set([...DEFAULT_ROOMS, ...(store.get('rooms') ?? '').split(',').filter((r) => ROOM_NAME.test(r)), roomName]);
const transports = params.get('transports')?.split(',').filter((t) => TRANSPORTS.includes(t));

const client = new Volley(location.origin, transports && transports.length > 0 ? { transports: /** @type {any} */ (transports) } : {});
const connection = new ConnectionView(client, { badge: $('connection'), text: $('connection-text'), banner: $('banner') });
const presence = new PresenceList({ list: $('presence'), count: $('presence-count'), note: $('presence-note') });
/** @type {Room | null} */
let room = null;

function enter(/** @type {string} */ name) {
  room?.leave();
  roomName = name;
  rooms.add(name);
  store.set('room', name);
  store.set('rooms', [...rooms].join(','));
  const url = new URL(location.href);
  url.searchParams.set('room', name);
  history.replaceState(null, '', url);
  document.title = `#${name} · Volley chat`;
  $('room-title').textContent = `#${name}`;
  drawRooms();
  room = new Room(client, {
    name,
    nick,
    messages: $('messages'),
    presence,
    typing: $('typing'),
    onOutboxChange: () => connection.render(),
  });
  void room.join();
  $('text').focus();
}

function drawRooms() {
  const items = [...rooms].sort().map((name) => {
    const li = document.createElement('li');
    const button = li.appendChild(document.createElement('button'));
    button.type = 'button';
    button.textContent = `#${name}`;
    if (name === roomName) button.setAttribute('aria-current', 'true');
    button.addEventListener('click', () => name !== roomName && enter(name));
    return li;
  });
  $('rooms').replaceChildren(...items);
}

/** @type {HTMLInputElement} */
const nickInput = $('nick');
nickInput.value = nick;
const changeNick = () => {
  const next = cleanNick(nickInput.value);
  if (next === null || next === nick) return void (nickInput.value = nick);
  nick = next;
  store.set('nick', nick);
  enter(roomName); // presence data is set when subscribing: join again under the new name
};
nickInput.addEventListener('change', changeNick);
$('nick-form').addEventListener('submit', (event) => {
  event.preventDefault();
  changeNick();
});

$('room-form').addEventListener('submit', (event) => {
  event.preventDefault();
  /** @type {HTMLInputElement} */
  const input = $('new-room');
  const name = input.value.trim().toLowerCase();
  if (!ROOM_NAME.test(name)) return;
  input.value = '';
  enter(name);
});

/** @type {HTMLInputElement} */
const text = $('text');
text.addEventListener('input', () => text.value.trim() !== '' && room?.typing());
$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const message = text.value.trim();
  if (message === '' || room === null) return;
  text.value = '';
  room.send(message);
});

client.connect();
connection.render();
enter(roomName);
// For poking at the demo from the devtools console.
Object.assign(globalThis, { volleyChat: { client } });
