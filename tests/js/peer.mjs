// A real JavaScript automerge-repo 2.5.x peer for setlink's interop tests.
//
//   node peer.mjs --url ws://127.0.0.1:PORT/sync --token TOKEN [steps...]
//
// Steps run in this order, each printing one JSON line on stdout:
//   --create JSON          create a document with this initial content, wait until the
//                          relay confirms it has our heads, and verify by fetching it back
//                          through a second, storage-less repo
//                          -> {"step":"create","documentId","url","heads","verified":true}
//   --find ID              find a document by id (bare or automerge: URL)
//                          -> {"step":"find","documentId","state":"ready"|"unavailable","doc"}
//   --wait-for KEY=VALUE   (after --find) wait until doc[KEY] == VALUE (string compare)
//                          -> {"step":"wait-for","ok":true,"doc"}
//   --edit KEY=VALUE       (after --find or --create) set doc[KEY] = VALUE and wait until
//                          the relay confirms it -> {"step":"edit","heads"}
//   --broadcast JSON       (after --find) send it as an ephemeral message
//                          -> {"step":"broadcast"}
//   --listen MS            (after --find) print ephemeral messages for MS milliseconds
//                          -> {"step":"ephemeral","senderId","message"} per message
//   --stay MS              (first step only) do not wait for the relay: stay up MS
//                          milliseconds, with the adapter's log on stderr (a refused token:
//                          the process must survive and the relay's reason be readable)
//                          -> {"step":"stay","alive":true}
// Repeatable flags (--edit, --wait-for) run in the order given. Exit code 0 when every
// step succeeded, 1 otherwise (after an {"step":"error","message"} line).
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import debug from "debug"

const args = process.argv.slice(2)
const opt = name => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const steps = []
for (let i = 0; i < args.length; i++) {
  if (args[i].startsWith("--") && !["--url", "--token", "--timeout"].includes(args[i])) {
    steps.push([args[i].slice(2), args[i + 1]])
    i++
  } else if (["--url", "--token", "--timeout"].includes(args[i])) {
    i++
  }
}
const url = opt("--url")
const token = opt("--token") ?? ""
const timeoutMs = Number(opt("--timeout") ?? 15000)
if (!url) {
  console.error("usage: node peer.mjs --url ws://host/sync --token T [steps]")
  process.exit(2)
}
const dialUrl = `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`

const out = obj => process.stdout.write(JSON.stringify(obj) + "\n")
const fail = message => {
  out({ step: "error", message })
  process.exit(1)
}
const sleep = ms => new Promise(r => setTimeout(r, ms))
const deadline = () => Date.now() + timeoutMs
const plain = doc => JSON.parse(JSON.stringify(doc ?? null))
const sameHeads = (a, b) =>
  Array.isArray(a) && Array.isArray(b) && a.length === b.length && [...a].sort().join() === [...b].sort().join()

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

// --stay runs as a stock app would, with the adapter's default 5 s retry interval.
const staying = steps[0]?.[0] === "stay"
const newRepo = storage =>
  new Repo({
    network: [staying ? new WebSocketClientAdapter(dialUrl) : new WebSocketClientAdapter(dialUrl, 500)],
    storage,
    // Only share what we are asked about; a relay client should not push everything.
    sharePolicy: async () => true,
  })

const repo = newRepo(new MemoryStorage())

async function relayStorageId() {
  const until = deadline()
  while (Date.now() < until) {
    for (const md of Object.values(repo.peerMetadataByPeerId)) {
      if (md?.storageId) return md.storageId
    }
    await sleep(20)
  }
  fail("no relay peer (handshake) within the timeout")
}

// Waits until the relay's sync state says it has exactly our heads.
async function waitConfirmed(handle) {
  const sid = await relayStorageId()
  const until = deadline()
  while (Date.now() < until) {
    const info = handle.getSyncInfo(sid)
    if (info && sameHeads(info.lastHeads, handle.heads())) return
    await sleep(20)
  }
  fail(`relay did not confirm heads ${JSON.stringify(handle.heads())} of ${handle.documentId}`)
}

let handle
try {
  if (staying) debug.enable("automerge-repo:websocket*")
  else await relayStorageId()
  for (const [step, value] of steps) {
    if (step === "create") {
      handle = repo.create(JSON.parse(value))
      await waitConfirmed(handle)
      // Fetch it back through a second repo that has nothing: proves the relay has it.
      const probe = newRepo(undefined)
      const copy = await Promise.race([
        probe.find(handle.url),
        sleep(timeoutMs).then(() => fail("second repo could not fetch the created document")),
      ])
      const verified = sameHeads(copy.heads(), handle.heads())
      await probe.shutdown()
      out({ step, documentId: handle.documentId, url: handle.url, heads: handle.heads(), verified })
      if (!verified) fail("the fetched copy has different heads")
    } else if (step === "find") {
      const id = value.startsWith("automerge:") ? value : `automerge:${value}`
      try {
        handle = await Promise.race([
          repo.find(id),
          sleep(timeoutMs).then(() => {
            throw new Error("timeout")
          }),
        ])
        out({ step, documentId: handle.documentId, state: "ready", doc: plain(handle.doc()) })
      } catch (e) {
        if (String(e).includes("unavailable")) {
          out({ step, documentId: value, state: "unavailable" })
          handle = undefined
        } else {
          fail(`find ${value}: ${e}`)
        }
      }
    } else if (step === "wait-for") {
      if (!handle) fail("--wait-for needs a document")
      const [k, v] = value.split(/=(.*)/s)
      const until = deadline()
      while (Date.now() < until && String(handle.doc()?.[k]) !== v) await sleep(20)
      if (String(handle.doc()?.[k]) !== v) fail(`doc.${k} never became ${v}: ${JSON.stringify(plain(handle.doc()))}`)
      out({ step, ok: true, doc: plain(handle.doc()) })
    } else if (step === "edit") {
      if (!handle) fail("--edit needs a document")
      const [k, v] = value.split(/=(.*)/s)
      handle.change(d => {
        d[k] = v
      })
      await waitConfirmed(handle)
      out({ step, heads: handle.heads() })
    } else if (step === "broadcast") {
      if (!handle) fail("--broadcast needs a document")
      handle.broadcast(JSON.parse(value))
      await sleep(100)
      out({ step })
    } else if (step === "stay") {
      await sleep(Number(value))
      out({ step, alive: true })
    } else if (step === "listen") {
      if (!handle) fail("--listen needs a document")
      const h = handle
      const onMsg = ({ senderId, message }) => out({ step: "ephemeral", senderId, message })
      h.on("ephemeral-message", onMsg)
      await sleep(Number(value))
      h.off("ephemeral-message", onMsg)
    } else {
      fail(`unknown step --${step}`)
    }
  }
  // automerge-repo 2.5's shutdown() throws on a handle left unavailable; nothing to flush then.
  await repo.shutdown().catch(() => {})
  process.exit(0)
} catch (e) {
  fail(String(e?.stack ?? e))
}
