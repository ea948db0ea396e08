// Summarises the JSON lines written by bench/run.sh: one markdown table per suite, each figure the
// median over the runs with the range in brackets, as the anchors' summary does.
// usage: node bench/summarize.mjs [results dir, default /tmp/tandem-bench/results]
import fs from 'node:fs'
import path from 'node:path'

const dir = process.argv[2] || '/tmp/tandem-bench/results'
const read = f => {
  const p = path.join(dir, f)
  if (!fs.existsSync(p)) return []
  return fs.readFileSync(p, 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l))
}
const med = v => {
  const s = v.filter(x => typeof x === 'number' && !Number.isNaN(x)).sort((a, b) => a - b)
  if (s.length === 0) return '–'
  const m = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  const f = x => +x.toFixed(x >= 100 ? 0 : 2)
  return s.length === 1 ? `${f(m)}` : `${f(m)} (${f(s[0])}–${f(s[s.length - 1])})`
}
const table = (title, rows, cols) => {
  if (rows.length === 0) return
  console.log(`### ${title}\n`)
  console.log('| ' + cols.map(c => c[0]).join(' | ') + ' |')
  console.log('|' + cols.map(() => '---').join('|') + '|')
  for (const r of rows) console.log('| ' + cols.map(c => c[1](r)).join(' | ') + ' |')
  console.log()
}
const groupBy = (rows, key) => {
  const m = new Map()
  for (const r of rows) { const k = key(r); if (!m.has(k)) m.set(k, []); m.get(k).push(r) }
  return [...m.entries()]
}

const idle = read('idle.jsonl')
table('Idle connections', groupBy(idle, r => `${r.proto || 'tandem'}/${r.docs}`), [
  ['server/documents', ([k]) => k], ['runs', ([, g]) => g.length],
  ['RSS 0 conns (MB)', ([, g]) => med(g.map(r => r.rss0_mb))],
  ['RSS 1,000 (MB)', ([, g]) => med(g.map(r => r.steps[0]?.rss_mb))],
  ['RSS 5,000 (MB)', ([, g]) => med(g.map(r => r.steps.at(-1)?.rss_mb))],
  ['RSS/conn at 1,000 (KB)', ([, g]) => med(g.map(r => r.steps[0]?.rss_per_conn_kb))],
  ['RSS/conn at 5,000 (KB)', ([, g]) => med(g.map(r => r.steps.at(-1)?.rss_per_conn_kb))],
  ['marginal 1k→5k (KB)', ([, g]) => med(g.map(r => r.marginal_rss_per_conn_kb))],
  ['idle server CPU at 5,000 (%)', ([, g]) => med(g.map(r => r.steps.at(-1)?.idle_server_cpu_pct))],
  ['msgs/s at 5,000', ([, g]) => med(g.map(r => r.steps.at(-1)?.server_msgs_out_per_s))],
])

const lat = (title, rows) => table(title, groupBy(rows, r => `${r.target_ops_s}/${r.proto}/${r.clients}/${r.docs}/${r.mode}/${r.server_cpus || ''}`), [
  ['server', ([, g]) => g[0].proto], ['cores (server/bench)', ([, g]) => `${g[0].server_cpus || '?'}/${g[0].gen_cpus || '?'}`], ['clients/docs', ([, g]) => `${g[0].clients}/${g[0].docs}`], ['mode', ([, g]) => g[0].mode],
  ['target ops/s', ([, g]) => g[0].target_ops_s], ['runs', ([, g]) => g.length],
  ['achieved', ([, g]) => med(g.map(r => r.achieved_ops_s))],
  ['p50 ms', ([, g]) => med(g.map(r => r.p50_ms))], ['p95 ms', ([, g]) => med(g.map(r => r.p95_ms))],
  ['p99 ms', ([, g]) => med(g.map(r => r.p99_ms))], ['max ms', ([, g]) => med(g.map(r => r.max_ms))],
  ['dropped', ([, g]) => g.map(r => r.dropped).join('/')], ['closed', ([, g]) => g.map(r => r.closed_clients).join('/')],
  ['server CPU %', ([, g]) => med(g.map(r => r.server_cpu_pct))],
  ['server µs/op', ([, g]) => med(g.map(r => 1e4 * r.server_cpu_pct / Math.max(1, r.achieved_ops_s)))],
  ['bench CPU %', ([, g]) => med(g.map(r => r.gen_cpu_pct))],
  ['bench µs/delivery', ([, g]) => med(g.map(r => 1e4 * r.gen_cpu_pct / Math.max(1, r.server_msgs_out_per_s)))], ['other CPU %', ([, g]) => g.map(r => Math.round(r.other_cpu_pct)).join('/')],
  ['RSS MB', ([, g]) => med(g.map(r => r.server_rss_mb))],
  ['pass', ([, g]) => g.map(r => (r.p99_ms <= 100 && r.dropped === 0 && r.closed_clients === 0 && r.achieved_ops_s >= 0.95 * r.target_ops_s) ? 'y' : 'n').join('')],
])
lat('Typing (broadcast latency)', read('typing.jsonl').concat(read('typing-apply.jsonl')))
lat('Saturation sweep', read('sweep.jsonl'))
lat('Saturation sweep, three servers, same generator', read('sweep3.jsonl'))

table('Durable (acknowledged after fsync, closed loop)', groupBy(read('durable.jsonl'), r => `${r.clients}/${r.docs}`), [
  ['clients/docs', ([k]) => k], ['runs', ([, g]) => g.length],
  ['acked edits/s', ([, g]) => med(g.map(r => r.acked_ops_s))],
  ['ack p50 ms', ([, g]) => med(g.map(r => r.ack.p50_ms))], ['ack p99 ms', ([, g]) => med(g.map(r => r.ack.p99_ms))],
  ['ack max ms', ([, g]) => med(g.map(r => r.ack.max_ms))],
  ['server CPU %', ([, g]) => med(g.map(r => r.server_cpu_pct))], ['other CPU %', ([, g]) => g.map(r => Math.round(r.other_cpu_pct)).join('/')],
  ['errors', ([, g]) => g.map(r => r.edit_errors + r.closed_clients).join('/')],
])

table('Initial sync of a large document', groupBy(read('sync.jsonl'), r => r.pattern), [
  ['document', ([k]) => k], ['runs', ([, g]) => g.length], ['chars', ([, g]) => g[0].chars],
  ['sync bytes', ([, g]) => med(g.map(r => r.step2_bytes))],
  ['cold total ms', ([, g]) => med(g.map(r => r.cold?.total_ms))],
  ['cold first byte ms', ([, g]) => med(g.map(r => r.cold?.first_byte_ms))],
  ['warm total ms', ([, g]) => med(g.map(r => r.sync_total_ms_median))],
  ['warm first byte ms', ([, g]) => med(g.map(r => r.first_byte_ms_median))],
  ['client apply ms', ([, g]) => med(g.map(r => r.client_apply_ms_median))],
  ['server CPU ms/sync', ([, g]) => med(g.map(r => r.server_cpu_ms_per_sync))],
  ['write edits/s', ([, g]) => med(g.map(r => r.write_ops_s))],
  ['RSS loaded MB', ([, g]) => med(g.map(r => r.server_rss_loaded_mb))],
  ['identical', ([, g]) => g.map(r => `${r.content_ok}/${r.readers}`).join(' ')],
])
