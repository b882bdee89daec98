// The reference JavaScript automerge-repo 2.5.x sync server: a Repo behind
// WebSocketServerAdapter, as automerge-repo-sync-server runs it. Used to check that
// setlink's client interoperates with it, and as the side-by-side baseline in the
// benchmarks.
//
//   node server.mjs [--port N] [--dir DATA_DIR]
//
// Binds 127.0.0.1 (port 0 = any free port), stores documents with the nodefs storage
// adapter in DATA_DIR (in memory when absent), and prints one JSON line
// {"port":N,"peerId":"..."} once it listens. Runs until killed.
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const args = process.argv.slice(2)
const opt = name => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const port = Number(opt("--port") ?? 0)
const dir = opt("--dir")

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

const wss = new WebSocketServer({ host: "127.0.0.1", port })
await new Promise(r => wss.on("listening", r))
const peerId = `js-sync-server-${Math.random().toString(36).slice(2)}`
new Repo({
  network: [new WebSocketServerAdapter(wss)],
  storage: dir ? new NodeFSStorageAdapter(dir) : new MemoryStorage(),
  peerId,
  // What automerge-repo-sync-server does: serve what is asked, announce nothing.
  sharePolicy: async () => false,
})
process.stdout.write(JSON.stringify({ port: wss.address().port, peerId }) + "\n")
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0))
