// A stock JavaScript automerge-repo 2.5.x client making one edit to a board's run, for
// setlink's write-rule tests (tests/tests/js_write_rules.rs).
//
//   node rules_peer.mjs --url ws://127.0.0.1:PORT/sync --token TOKEN --board ID
//        (--title RUN=TEXT | --delete-event RUN | --priority RUN=NUMBER)
//        [--expect accepted|refused] [--watch-title RUN=TEXT] [--stay MS] [--timeout MS]
//
// It finds the board, makes the edit the way an app would (`handle.change(d => ...)`; a
// plain string assignment stores Text), and then, printing one JSON line per step:
//   {"step":"find","documentId","runs":{id:{"title","events":[ids]}}}
//   {"step":"changed","heads","eventId"?}        the edit is made locally (heads in hex)
//   {"step":"confirmed","heads"}                 (--expect accepted) the relay's sync state
//                                                has exactly our heads
//   {"step":"notice",...}                        every setlink/refused notice, as received
//   {"step":"live","run","title"}                (--watch-title) the run's title, written by
//                                                someone else, arrived
//   {"step":"summary",...}                       after --stay MS from the edit: notices,
//       other ephemeral messages, connections ("peer" events), disconnections, and the
//       sync frames this client sent for the board since the edit (all, and with changes)
// Exit code 0 when every step succeeded, 1 otherwise (after an {"step":"error"} line).
// RULES_PEER_DEBUG=1 logs every sync frame for the board (both ways) on stderr.
import { Repo, decodeHeads } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { decodeSyncMessage } from "@automerge/automerge"

const args = process.argv.slice(2)
const opt = name => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const url = opt("--url")
const token = opt("--token") ?? ""
const board = opt("--board")
const timeoutMs = Number(opt("--timeout") ?? 15000)
const expect = opt("--expect")
const stayMs = Number(opt("--stay") ?? 0)
if (!url || !board) {
  console.error("usage: node rules_peer.mjs --url ws://host/sync --token T --board ID [edit]")
  process.exit(2)
}
const dialUrl = `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`

const out = obj => process.stdout.write(JSON.stringify(obj) + "\n")
const fail = message => {
  out({ step: "error", message })
  process.exit(1)
}
const sleep = ms => new Promise(r => setTimeout(r, ms))
const sameHeads = (a, b) =>
  Array.isArray(a) && Array.isArray(b) && a.length === b.length && [...a].sort().join() === [...b].sort().join()
const splitEq = s => {
  const [k, v] = s.split(/=(.*)/s)
  return [k, v]
}

// In-memory storage, so this repo has a storage id and the relay keys its sync state.
class MemoryStorage {
  data = new Map()
  async load(key) {
    return this.data.get(key.join("/"))
  }
  async save(key, value) {
    this.data.set(key.join("/"), value)
  }
  async remove(key) {
    this.data.delete(key.join("/"))
  }
  async loadRange(prefix) {
    const p = prefix.join("/")
    return [...this.data.entries()].filter(([k]) => k.startsWith(p)).map(([k, v]) => ({ key: k.split("/"), data: v }))
  }
  async removeRange(prefix) {
    const p = prefix.join("/")
    for (const k of [...this.data.keys()]) if (k.startsWith(p)) this.data.delete(k)
  }
}

// Counts what this client sends, as the relay receives it.
const sent = { sync: 0, withChanges: 0, changes: 0, counting: false }
const debug = process.env.RULES_PEER_DEBUG === "1"
const adapter = new WebSocketClientAdapter(dialUrl, 500)
if (debug)
  adapter.on("message", m => {
    if (m.type === "sync" && m.documentId === board) {
      const d = decodeSyncMessage(m.data)
      console.error(`${Date.now()} got sync: ${d.changes.length} changes, heads ${d.heads}, need ${d.need}`)
    } else console.error(`${Date.now()} got ${m.type}`)
  })
const send = adapter.send.bind(adapter)
adapter.send = message => {
  if (sent.counting && message.type === "sync" && message.documentId === board) {
    sent.sync++
    const m = decodeSyncMessage(message.data)
    const n = m.changes.length
    if (debug) console.error(`${Date.now()} sent sync: ${n} changes, heads ${m.heads}, need ${m.need}`)
    if (n > 0) {
      sent.withChanges++
      sent.changes += n
    }
  }
  return send(message)
}

const repo = new Repo({
  network: [adapter],
  storage: new MemoryStorage(),
  sharePolicy: async () => true,
})
let connections = 0
let disconnections = 0
repo.networkSubsystem.on("peer", () => connections++)
repo.networkSubsystem.on("peer-disconnected", () => disconnections++)

async function relayStorageId() {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    for (const md of Object.values(repo.peerMetadataByPeerId)) {
      if (md?.storageId) return md.storageId
    }
    await sleep(20)
  }
  fail("no relay peer (handshake) within the timeout")
}

const text = v => (v === undefined || v === null ? v : String(v))
const runsOf = doc =>
  Object.fromEntries(
    Object.entries(doc?.runs ?? {}).map(([id, r]) => [id, { title: text(r.title), events: Object.keys(r.events ?? {}).sort() }]),
  )

try {
  const sid = await relayStorageId()
  let timer
  const handle = await Promise.race([
    repo.find(`automerge:${board}`),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`board ${board} not found within the timeout`)), timeoutMs)
    }),
  ])
  clearTimeout(timer)
  const notices = []
  const others = []
  handle.on("ephemeral-message", ({ message }) => {
    if (message?.type === "setlink/refused") {
      notices.push(message)
      out({ step: "notice", ...message })
    } else {
      others.push(message)
    }
  })
  out({ step: "find", documentId: handle.documentId, runs: runsOf(handle.doc()) })

  // The edit.
  let eventId
  const title = opt("--title")
  const del = opt("--delete-event")
  const priority = opt("--priority")
  const target = title ? splitEq(title)[0] : del ?? (priority && splitEq(priority)[0])
  if (!target || !handle.doc().runs?.[target]) fail(`no run ${target} on the board`)
  sent.counting = true
  const editedAt = Date.now()
  if (title) {
    handle.change(d => {
      d.runs[target].title = splitEq(title)[1]
    })
  } else if (del) {
    eventId = Object.keys(handle.doc().runs[target].events).sort()[0]
    handle.change(d => {
      delete d.runs[target].events[eventId]
    })
  } else if (priority) {
    handle.change(d => {
      d.runs[target].priority = Number(splitEq(priority)[1])
    })
  } else {
    fail("no edit given")
  }
  out({ step: "changed", heads: decodeHeads(handle.heads()), eventId })

  if (expect === "accepted") {
    const until = Date.now() + timeoutMs
    while (Date.now() < until && !sameHeads(handle.getSyncInfo(sid)?.lastHeads, handle.heads())) {
      if (notices.length) fail(`the relay refused the edit: ${JSON.stringify(notices[0])}`)
      await sleep(20)
    }
    if (!sameHeads(handle.getSyncInfo(sid)?.lastHeads, handle.heads()))
      fail(`relay did not confirm heads ${JSON.stringify(handle.heads())}`)
    out({ step: "confirmed", heads: decodeHeads(handle.heads()) })
  } else if (expect === "refused") {
    const until = Date.now() + timeoutMs
    while (Date.now() < until && !notices.length) await sleep(20)
    if (!notices.length) fail("no refusal notice within the timeout")
  }

  const watch = opt("--watch-title")
  if (watch) {
    const [run, want] = splitEq(watch)
    const until = Date.now() + timeoutMs
    while (Date.now() < until && text(handle.doc().runs?.[run]?.title) !== want) await sleep(20)
    const got = text(handle.doc().runs?.[run]?.title)
    if (got !== want) fail(`runs.${run}.title never became ${want} (is ${got})`)
    out({ step: "live", run, title: got })
  }

  await sleep(Math.max(0, editedAt + stayMs - Date.now()))
  out({
    step: "summary",
    notices: notices.length,
    otherEphemeral: others.length,
    connections,
    disconnections,
    syncSent: sent.sync,
    syncSentWithChanges: sent.withChanges,
    changesSent: sent.changes,
    heads: decodeHeads(handle.heads()),
    runs: runsOf(handle.doc()),
  })
  await repo.shutdown().catch(() => {})
  process.exit(0)
} catch (e) {
  fail(String(e?.stack ?? e))
}
