// ws 8 without bufferutil: masking and unmasking in JavaScript. See ws.mjs.
process.env.WS_NO_BUFFER_UTIL = '1';
await import('./ws.mjs');
