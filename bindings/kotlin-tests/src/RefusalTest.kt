package dev.setlink.tests

import dev.setlink.ffi.Refusal
import dev.setlink.ffi.RefusalObserver
import dev.setlink.ffi.Role
import dev.setlink.ffi.RunEvent
import dev.setlink.ffi.RunStatus
import dev.setlink.ffi.SetlinkException
import dev.setlink.ffi.SetlinkStore
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.util.concurrent.CopyOnWriteArrayList

/**
 * The relay's write rules, end to end: a change the relay refuses reaches the app as a
 * [Refusal], and `dropUnconfirmedChanges` returns the document to the relay's state.
 *
 * A stock app cannot make a change the relay refuses (the library enforces the same rules
 * locally), so the PA's phone forges its role: `setIdentity` as a coordinator. Its changes
 * then say they were made by a coordinator while its token says PA, which the relay's
 * `authorship` rule refuses.
 */
class RefusalTest {
    private val tmp = TempDir()
    private val relay = Relay()
    private val stores = mutableListOf<SetlinkStore>()

    @After fun cleanup() {
        stores.forEach { it.closeStore() }
        relay.close()
        tmp.close()
    }

    private fun member(role: String, name: String): Pair<SetlinkStore, String> =
        joinDemo(relay, tmp, stores, role, name).let { (s, inv) -> s to inv.memberId }

    @Test
    fun neverSyncedIsNotPossible() {
        val s = SetlinkStore.open(tmp.file("alone.db")).also { stores.add(it) }
        s.setIdentity("m-alone", Role.COORDINATOR)
        val doc = s.importDocument(relay.boardId!!, dev.setlink.ffi.DocumentKind.Board("2030-01-01"))
        assertTrue(doc)
        assertThrows(SetlinkException.NotPossible::class.java) { s.dropUnconfirmedChanges(relay.boardId!!) }
        assertNull(s.syncStatus().lastRefusal)
    }

    @Test
    fun aRefusedStatusEventIsShownAndDropped() {
        val (coord, _) = member("coordinator", "Casey")
        val (pa, paId) = member("pa", "Pat")
        val board = relay.boardId!!
        // A fresh run for the PA (by id, so the test does not depend on the list readers).
        val run = coord.createRun(board, newRun("Gaffer tape"))
        coord.assignRun(board, run, paId, null, null)
        assertTrue(runBlocking { coord.waitUntilSynced(30_000uL) })
        waitUntil(30_000, "the PA to get the run") {
            runCatching { pa.getRun(board, run).status == RunStatus.ASSIGNED }.getOrDefault(false)
        }
        assertTrue(runBlocking { pa.waitUntilSynced(30_000uL) })

        val heard = CopyOnWriteArrayList<Refusal>()
        pa.addRefusalObserver(object : RefusalObserver {
            override fun refused(refusal: Refusal) { heard.add(refusal) }
        })
        // A throwing observer is counted, never propagated.
        pa.addRefusalObserver(object : RefusalObserver {
            override fun refused(refusal: Refusal) { throw IllegalStateException("on purpose") }
        })

        // The forged role: the library lets a "coordinator" record the pick-up ...
        pa.setIdentity(paId, Role.COORDINATOR)
        pa.recordRunStatus(board, run, RunEvent.PickUp, "forged", null)
        assertEquals(RunStatus.PICKED_UP, pa.getRun(board, run).status)
        // ... and the relay refuses it.
        waitUntil(20_000, "the relay's refusal") { heard.isNotEmpty() }
        val r = heard.first()
        assertEquals(board, r.docId)
        assertTrue(r.ours)
        assertEquals("authorship", r.rule)
        assertTrue(r.message, r.message.isNotEmpty())
        assertEquals(r, pa.syncStatus().lastRefusal)
        assertTrue(pa.flushObservers(5_000uL))
        assertTrue(pa.observerFailures() >= 1uL)
        assertFalse(runBlocking { pa.waitUntilSynced(1_000uL) })

        // Back to the truth, and back to the relay's state.
        pa.setIdentity(paId, Role.PA)
        val dropped = pa.dropUnconfirmedChanges(board)
        assertTrue(dropped.isNotEmpty())
        assertTrue(dropped.all { it.length == 64 })
        assertEquals(RunStatus.ASSIGNED, pa.getRun(board, run).status)
        assertNull(pa.syncStatus().lastRefusal)

        // The real pick-up syncs as usual.
        pa.recordRunStatus(board, run, RunEvent.PickUp, null, null)
        assertTrue("pa did not sync after dropping", runBlocking { pa.waitUntilSynced(30_000uL) })
        waitUntil(30_000, "the coordinator to see the real pick-up") {
            coord.getRun(board, run).status == RunStatus.PICKED_UP
        }
        assertTrue(coord.getRun(board, run).events.none { it.note == "forged" })
    }
}
