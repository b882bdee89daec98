package dev.setlink.tests

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
