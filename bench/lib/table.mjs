// Medians, spreads and the markdown tables of `bench/compare.mjs`.

/** `a.b.c` of an object (or `path(object)` when it is a function), or undefined. */
export function pick(object, path) {
  if (typeof path === 'function') return path(object);
  let value = object;
  for (const part of path.split('.')) value = value?.[part];
  return typeof value === 'number' ? value : undefined;
}

export function median(values) {
  const sorted = values.filter((v) => typeof v === 'number').sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function format(value) {
  if (value === undefined) return '–';
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return String(Math.round(value * 100) / 100);
}

/**
 * Per peer: the median of the main metric, its ratio to ws, the spread (min–max over rounds) and the medians of
 * the workload's other columns and of both CPU shares.
 */
export function summarizeScenario(scenario, runs, columns) {
  const rows = [];
  for (const peer of scenario.peers) {
    const ok = runs.filter((r) => r.peer === peer && r.result);
    const failed = runs.filter((r) => r.peer === peer && !r.result).length;
    const values = ok.map((r) => pick(r.result, scenario.metric.key)).filter((v) => v !== undefined);
    rows.push({
      peer,
      runs: ok.length,
      failed,
      median: median(values),
      min: values.length ? Math.min(...values) : undefined,
      max: values.length ? Math.max(...values) : undefined,
      columns: Object.fromEntries(columns.map(([label, path]) => [label, median(ok.map((r) => pick(r.result, path)))])),
      serverCpu: median(ok.map((r) => r.result.serverCpu)),
      generatorCpu: median(ok.map((r) => r.result.generatorCpu)),
      otherCpu: median(ok.map((r) => r.result.otherCpu)),
      lost: ok.reduce((sum, r) => sum + (r.result.connectionsLost ?? 0) + (r.result.failures ?? 0), 0),
      refused: ok.reduce((sum, r) => sum + (r.result.refused ?? 0), 0),
    });
  }
  const ws = rows.find((r) => r.peer === 'ws')?.median;
  for (const row of rows) row.ratio = ws && row.median !== undefined ? row.median / ws : undefined;
  return rows;
}

/** One markdown table for a scenario. */
export function markdownTable(scenario, rows, columns) {
  const m = scenario.metric;
  const hasCpu = rows.some((r) => r.serverCpu !== undefined);
  const head = [
    'peer',
    `median ${m.label}`,
    '× ws',
    'spread (min–max)',
    ...columns.filter(([label]) => label !== m.label).map(([label]) => label),
    ...(hasCpu ? ['server CPU %', 'generator CPU %', 'other CPU %'] : []),
  ];
  const lines = [
    `### ${scenario.title}`,
    '',
    `Ranked by ${m.label} (${m.better} is better); × ws = peer ÷ ws.`,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  const order = [...rows].sort((a, b) => {
    if (a.median === undefined) return 1;
    if (b.median === undefined) return -1;
    return m.better === 'higher' ? b.median - a.median : a.median - b.median;
  });
  for (const row of order) {
    const notes = [row.failed ? `${row.failed} failed` : '', row.lost ? `${row.lost} conn. lost` : '', row.refused ? `${row.refused} publishes refused` : ''].filter(Boolean).join(', ');
    const cells = [
      `${row.peer === 'volley' || row.peer === 'volley-hub' ? `**${row.peer}**` : row.peer}${notes ? ` (${notes})` : ''}`,
      format(row.median),
      row.ratio === undefined ? '–' : `${row.ratio.toFixed(2)}×`,
      row.min === undefined ? '–' : `${format(row.min)}–${format(row.max)}`,
      ...columns.filter(([label]) => label !== m.label).map(([label]) => format(row.columns[label])),
      ...(hasCpu ? [format(row.serverCpu), format(row.generatorCpu), format(row.otherCpu)] : []),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
