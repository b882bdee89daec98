package dev.setlink.tests

import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener
import org.junit.runner.Description
import kotlin.system.exitProcess

/**
 * Runs the JUnit 4 classes named on the command line (or all of ALL_TESTS) and ends with
 * the line `N passed, N failed` the suite reads. Exits 1 when anything failed or nothing ran.
 */
fun main(args: Array<String>) {
    val classes: List<Class<*>> =
        if (args.isEmpty()) ALL_TESTS else args.map { Class.forName(it) }
    val core = JUnitCore()
    core.addListener(object : RunListener() {
        override fun testStarted(description: Description) {
            System.out.println("test ${description.className}.${description.methodName} ...")
            System.out.flush()
        }
        override fun testFailure(failure: Failure) {
            System.out.println("FAILED ${failure.description.displayName}: ${failure.message}")
            System.out.println(failure.trace.lines().take(12).joinToString("\n"))
        }
    })
    val result = core.run(*classes.toTypedArray())
    val failed = result.failureCount
    val passed = result.runCount - failed
    System.out.println("$passed passed, $failed failed")
    System.out.flush()
    exitProcess(if (failed == 0 && result.runCount > 0) 0 else 1)
}
