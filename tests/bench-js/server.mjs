// The reference JavaScript sync server for setlink's side-by-side benchmark: an
// automerge-repo 2.5.x Repo behind NodeWSServerAdapter on a ws server, storing with
// NodeFSStorageAdapter, configured as automerge-repo-sync-server is: every peer may
// access every document it asks for by id (no auth), and the server announces nothing
// on its own, so a client receives exactly the documents it subscribed to — the same
// contract as setlink's relay, which keeps the two workloads identical.
//
//   node server.mjs [--port N] [--dir DATA_DIR]
//
// Binds 127.0.0.1 (port 0 = any free port). DATA_DIR defaults to a fresh temporary
// directory, removed on exit. Prints one JSON line {"port":N,"peerId":"...","dir":"..."}
// once it listens, then runs until SIGTERM/SIGINT.
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const args = process.argv.slice(2)
const opt = name => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const port = Number(opt("--port") ?? 0)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`bad --port ${opt("--port")}\n`)
  process.exit(2)
}
const ownDir = opt("--dir") === undefined
const dir = opt("--dir") ?? mkdtempSync(join(tmpdir(), "setlink-bench-js-"))

// The adapter attaches its "connection" handler only when the Repo connects it, which
// happens after the Repo has read its storage id, asynchronously. A socket accepted
// before then is never answered, so listen only once the adapter is wired up.
const http = createServer()
const wss = new WebSocketServer({ server: http })
const adapter = new NodeWSServerAdapter(wss)
const wired = new Promise(resolve => {
  const connect = adapter.connect.bind(adapter)
  adapter.connect = (...a) => {
    connect(...a)
    resolve()
  }
})
const peerId = `js-sync-server-${process.pid}`
const repo = new Repo({
  network: [adapter],
  storage: new NodeFSStorageAdapter(dir),
  peerId,
  shareConfig: {
    access: async () => true,
    announce: async () => false,
  },
})
await wired
await new Promise((resolve, reject) => {
  http.once("error", reject)
  http.listen(port, "127.0.0.1", resolve)
})
process.stdout.write(JSON.stringify({ port: http.address().port, peerId, dir }) + "\n")

const stop = async () => {
  // Let pending debounced saves reach the disk, as a clean shutdown of the reference does.
  await repo.shutdown().catch(() => {})
  if (ownDir) rmSync(dir, { recursive: true, force: true })
  process.exit(0)
}
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, stop)
