package dev.setlink.tests

import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.util.concurrent.TimeUnit

/** Runs the PA phone demo exactly as the README does, against a relay started here. */
class DemoTest {
    private val relay = Relay()
    @After fun cleanup() = relay.close()

    @Test
    fun paDayWalkThroughRunsAgainstTheRelay() {
        val root = System.getenv("SETLINK_ROOT") ?: throw IllegalStateException("SETLINK_ROOT is not set")
        val p = ProcessBuilder(
            "$root/scripts/mobile-demo.sh", relay.url, relay.codes.getValue("pa"), relay.codes.getValue("coordinator"),
        ).directory(File(root)).redirectErrorStream(true).start()
        val out = StringBuilder()
        val reader = Thread { p.inputStream.bufferedReader().forEachLine { synchronized(out) { out.appendLine(it) } } }
        reader.start()
        assertTrue("demo did not finish in time", p.waitFor(300, TimeUnit.SECONDS))
        reader.join(5_000)
        val text = synchronized(out) { out.toString() }
        assertEquals(text, 0, p.exitValue())
        for (line in listOf(
            "signal lost", "delivered: ", "published call sheet revision 2 (blue)", "back in range",
            "call sheet rev 2 (blue)", "acknowledged revision 2", "Pat confirmed", "DEMO OK",
        )) assertTrue("missing `$line` in:\n$text", text.contains(line))
    }
}
