package dev.setlink.tests

import dev.setlink.ffi.Invitation
import dev.setlink.ffi.SetlinkStore
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertTrue
import java.io.File
import java.nio.file.Files

/** A fresh directory per test, removed by [cleanup]. */
class TempDir : AutoCloseable {
    val dir: File = Files.createTempDirectory("setlink-kt").toFile()
    fun file(name: String): String = File(dir, name).absolutePath
    override fun close() { dir.deleteRecursively() }
}

/** Polls [cond] every 20 ms until it holds or [timeoutMs] passes. */
fun waitUntil(timeoutMs: Long = 10_000, what: String = "condition", cond: () -> Boolean) {
    val deadline = System.currentTimeMillis() + timeoutMs
    while (System.currentTimeMillis() < deadline) {
        if (cond()) return
        Thread.sleep(20)
    }
    if (!cond()) throw AssertionError("timed out after $timeoutMs ms waiting for $what")
}

/** The day test relays treat as today (`setlink serve --today`), whatever the date or time zone. */
const val DEMO_DAY = "2030-06-14"

/**
 * The real relay binary (`setlink serve --demo --today DEMO_DAY`) on an ephemeral port with
 * a temporary data directory. Its path comes from SETLINK_BIN (scripts/kotlin-test.sh builds it).
 *
 * With [tls], a test CA and a relay certificate for 127.0.0.1 are made first (the
 * `test-certs` binary, path in SETLINK_TEST_CERTS_BIN) and the relay serves them
 * (`--tls-cert`, `--tls-key`): [url] is then `https://…` and [caPem] the CA to trust.
 */
class Relay(val tls: Boolean = false) : AutoCloseable {
    val dataDir: File = Files.createTempDirectory("setlink-relay").toFile()
    private val process: Process
    val addr: String
    val codes = mutableMapOf<String, String>()
    var boardId: String? = null
    /** The day the relay seeded the demo for (its `SETLINK_DEMO_DAY` line). */
    val day: String

    /** The test CA's certificate (PEM) when serving TLS. */
    val caPem: String?

    init {
        val bin = System.getenv("SETLINK_BIN") ?: throw IllegalStateException("SETLINK_BIN is not set")
        val args = mutableListOf(bin, "serve", "--data-dir", dataDir.path, "--listen", "127.0.0.1:0", "--demo", "--today", DEMO_DAY)
        if (tls) {
            val certsBin = System.getenv("SETLINK_TEST_CERTS_BIN")
                ?: throw IllegalStateException("SETLINK_TEST_CERTS_BIN is not set")
            val certs = File(dataDir, "certs")
            val made = ProcessBuilder(certsBin, certs.path).inheritIO().start()
            if (made.waitFor() != 0) throw IllegalStateException("test-certs failed")
            caPem = File(certs, "ca.pem").readText()
            args += listOf("--tls-cert", File(certs, "relay.pem").path, "--tls-key", File(certs, "relay-key.pem").path)
        } else {
            caPem = null
        }
        process = ProcessBuilder(args)
            .redirectError(File(dataDir, "relay.log"))
            .start()
        val lines = java.util.concurrent.LinkedBlockingQueue<String>()
        Thread {
            process.inputStream.bufferedReader().forEachLine { lines.put(it) }
        }.apply { isDaemon = true }.start()
        var listening: String? = null
        var demoDay: String? = null
        val deadline = System.currentTimeMillis() + 60_000
        while ((listening == null || demoDay == null || codes.size < 4) && System.currentTimeMillis() < deadline) {
            val line = lines.poll(200, java.util.concurrent.TimeUnit.MILLISECONDS) ?: continue
            when {
                line.startsWith("SETLINK_LISTENING=") -> listening = line.substringAfter('=')
                line.startsWith("SETLINK_DEMO_DAY=") -> demoDay = line.substringAfter('=')
                line.startsWith("SETLINK_DEMO_CODE_") ->
                    codes[line.substringAfter("SETLINK_DEMO_CODE_").substringBefore('=').lowercase()] = line.substringAfter('=')
                line.trim().startsWith("board for ") -> boardId = line.substringAfter("automerge:").trim()
            }
        }
        if (listening == null || demoDay == null || codes.size < 4) {
            process.destroyForcibly()
            throw IllegalStateException("relay did not start: ${File(dataDir, "relay.log").readText().takeLast(2000)}")
        }
        addr = listening
        day = demoDay
    }

    val url: String get() = if (tls) "https://$addr" else "http://$addr"

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) process.destroyForcibly()
        dataDir.deleteRecursively()
    }
}

/**
 * A member's phone on [relay]'s demo production: a store at `<role>.db` in [tmp] that
 * redeemed the demo code for [role] as [name], started syncing and is in sync. Added to
 * [stores] so the test closes it.
 */
fun joinDemo(relay: Relay, tmp: TempDir, stores: MutableList<SetlinkStore>, role: String, name: String):
    Pair<SetlinkStore, Invitation> = runBlocking {
    if (System.getenv("SETLINK_LOG") != null) dev.setlink.ffi.enableLogging(System.getenv("SETLINK_LOG"))
    val s = SetlinkStore.open(tmp.file("$role.db"))
    stores.add(s)
    val inv = s.redeemInvite(relay.url, relay.codes.getValue(role), name)
    s.startSync(relay.url, inv.token)
    assertTrue("$role did not sync", s.waitUntilSynced(30_000uL))
    s to inv
}
