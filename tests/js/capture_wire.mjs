// Captures real automerge-repo 2.5.x WebSocket frames, byte for byte, as golden
// fixtures for setlink's wire codec (core/tests/fixtures/wire/).
//
// Two real JS repos talk over a real WebSocket on 127.0.0.1; every binary frame in
// both directions is recorded. Then the few message types that a plain two-repo
// session does not produce (error, leave, peer with metadata absent, ...) are
// encoded with automerge-repo's own CBOR helper, which is exactly what the
// network adapters call.
//
// Usage: node capture_wire.mjs <out.json>
import { writeFileSync } from "node:fs"
import { WebSocketServer } from "ws"
import { Repo, cbor } from "@automerge/automerge-repo"
import {
  WebSocketClientAdapter,
  WebSocketServerAdapter,
} from "@automerge/automerge-repo-network-websocket"

// An in-memory storage adapter, so both repos have a storage id (which makes them
// put `storageId` in their peer metadata and enables remote-heads gossip).
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
    return [...this.data.entries()]
      .filter(([k]) => k.startsWith(p))
      .map(([k, v]) => ({ key: k.split("/"), data: v }))
  }
  async removeRange(prefix) {
    const p = prefix.join("/")
    for (const k of [...this.data.keys()]) if (k.startsWith(p)) this.data.delete(k)
  }
}

const out = process.argv[2]
if (!out) {
  console.error("usage: node capture_wire.mjs <out.json>")
  process.exit(2)
}

const frames = []
const hex = b => Buffer.from(b).toString("hex")
const record = (dir, bytes) => {
  const msg = cbor.decode(new Uint8Array(bytes))
  frames.push({ source: dir, type: msg.type, hex: hex(bytes) })
}
const sleep = ms => new Promise(r => setTimeout(r, ms))

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
await new Promise(r => wss.on("listening", r))
const port = wss.address().port
wss.on("connection", socket => {
  socket.on("message", data => record("js-client", data))
  // Frames the JS server adapter sends go through this socket's send().
  const send = socket.send.bind(socket)
  socket.send = (data, ...rest) => {
    record("js-server", data)
    return send(data, ...rest)
  }
})

const server = new Repo({
  network: [new WebSocketServerAdapter(wss)],
  storage: new MemoryStorage(),
  peerId: "server-peer",
  enableRemoteHeadsGossiping: true,
})
const clientAdapter = new WebSocketClientAdapter(`ws://127.0.0.1:${port}`)
const client = new Repo({
  network: [clientAdapter],
  storage: new MemoryStorage(),
  peerId: "client-peer",
  enableRemoteHeadsGossiping: true,
})
for (let i = 0; i < 100 && !clientAdapter.isReady(); i++) await sleep(20)
await client.networkSubsystem.whenReady()

const handle = client.create({ title: "call sheet", runs: [] })
handle.change(d => {
  d.runs.push({ id: "r1", status: "requested" })
})
await sleep(300)
const found = await server.find(handle.url)
await found.whenReady()
await sleep(300)
client.subscribeToRemotes([await server.storageId()])
handle.change(d => {
  d.runs[0].status = "picked_up"
})
handle.broadcast({ eta: "10:45", run: "r1" })
await sleep(400)
try {
  await client.find("automerge:4NMNnkMhL8jXrdJ9jamS58PAVdXu", {
    allowableStates: ["unavailable"],
  })
} catch (e) {
  // unavailable is the expected answer; the frames are what we want
}
await sleep(300)

// Message shapes a two-repo session does not produce on its own.
const docId = handle.documentId
const synthetic = {
  error: {
    type: "error",
    senderId: "server-peer",
    message: "unsupported protocol version",
    targetId: "client-peer",
  },
  leave: { type: "leave", senderId: "client-peer" },
  join_no_storage: {
    type: "join",
    senderId: "phone-1",
    peerMetadata: { storageId: undefined, isEphemeral: true },
    supportedProtocolVersions: ["1"],
  },
  peer_min: {
    type: "peer",
    senderId: "relay",
    peerMetadata: {},
    selectedProtocolVersion: "1",
    targetId: "phone-1",
  },
  doc_unavailable: {
    type: "doc-unavailable",
    senderId: "relay",
    targetId: "phone-1",
    documentId: docId,
  },
  remote_subscription_change: {
    type: "remote-subscription-change",
    senderId: "phone-1",
    targetId: "relay",
    add: ["storage-a", "storage-b"],
    remove: ["storage-c"],
  },
  remote_heads_changed: {
    type: "remote-heads-changed",
    senderId: "relay",
    targetId: "phone-1",
    documentId: docId,
    newHeads: {
      "storage-a": { heads: ["2kQ5vFcn5ARtvM7PVw3wqZmz4jJYLqGxCvt4bnq8J2Jt"], timestamp: 1764000000123 },
    },
  },
  ephemeral_small_count: {
    type: "ephemeral",
    senderId: "phone-1",
    targetId: "relay",
    count: 7,
    sessionId: "k3j4h5",
    documentId: docId,
    data: cbor.encode({ eta: "10:45" }),
  },
  ephemeral_big_count: {
    type: "ephemeral",
    senderId: "phone-1",
    targetId: "relay",
    count: 5000000000,
    sessionId: "k3j4h5",
    documentId: docId,
    data: new Uint8Array([1, 2, 3]),
  },
}
for (const [name, msg] of Object.entries(synthetic)) {
  frames.push({ source: "synthetic:" + name, type: msg.type, hex: hex(cbor.encode(msg)) })
}

writeFileSync(out, JSON.stringify({ automergeRepo: "2.5.6", documentId: docId, frames }, null, 1) + "\n")
console.log(JSON.stringify({ frames: frames.length, types: [...new Set(frames.map(f => f.type))] }))
client.shutdown?.()
server.shutdown?.()
wss.close()
process.exit(0)
