package dev.setlink.tests

import dev.setlink.ffi.DocumentKind
import dev.setlink.ffi.MemberInfo
import dev.setlink.ffi.PeerEvent
import dev.setlink.ffi.PeerLink
import dev.setlink.ffi.ProductionInfo
import dev.setlink.ffi.ReceiptInput
import dev.setlink.ffi.Role
import dev.setlink.ffi.RunEvent
import dev.setlink.ffi.RunStatus
import dev.setlink.ffi.SetlinkException
import dev.setlink.ffi.SetlinkStore
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/** Moves frames both ways until neither side has anything to say; returns frames moved. */
fun pump(a: PeerLink, b: PeerLink, maxRounds: Int = 100): Int {
    var moved = 0
    repeat(maxRounds) {
        val ab = a.pollOutgoing()
        ab.forEach { b.receive(it) }
        val ba = b.pollOutgoing()
        ba.forEach { a.receive(it) }
        moved += ab.size + ba.size
        if (ab.isEmpty() && ba.isEmpty()) return moved
    }
    throw AssertionError("links still talking after $maxRounds rounds")
}

fun production(day: String) = ProductionInfo(
    title = "Night Shift", company = "Setlink Pictures", timezone = "America/Los_Angeles",
    shootDays = listOf(day), departments = listOf("Production", "Camera"), keyContacts = listOf(),
    walkieChannels = listOf(), locations = listOf(),
)

class PeerTest {
    private val tmp = TempDir()
    @After fun cleanup() = tmp.close()

    @Test
    fun twoStoresConvergeThroughTheBytesApiWithNoRelay() {
        val day = "2026-11-24"
        val office = SetlinkStore.open(tmp.file("coord.db"))
        office.setIdentity("m-coord", Role.COORDINATOR)
        val prod = office.createProduction(production(day), MemberInfo(name = "Casey", role = Role.COORDINATOR))
        office.addMember("m-pa", MemberInfo(name = "Pat", role = Role.PA, department = "Production"))
        val board = office.createBoard(day)
        val r1 = office.createRun(board, newRun("Walkie batteries"))
        val r2 = office.createRun(board, newRun("Coffee"))
        office.assignRun(board, r1, "m-pa", null, null)
        office.assignRun(board, r2, "m-pa", null, null)

        val phone = SetlinkStore.open(tmp.file("pa.db"))
        phone.setIdentity("m-pa", Role.PA)
        // The phone knows only the production (from its invite); the index brings the rest.
        assertTrue(phone.importDocument(prod, DocumentKind.Production))

        val a = office.openPeerLink(true)
        val b = phone.openPeerLink(false)
        assertTrue(pump(a, b) > 0)
        assertTrue(b.pollEvents().any { it is PeerEvent.Connected })
        assertEquals(listOf(day), phone.productionDays().map { it.day })
        assertEquals(board, phone.productionDays().single().boardId)
        assertEquals(setOf(r1, r2), phone.myRuns(board).runs.map { it.id }.toSet())
        assertTrue(b.progress().inSync)

        // Offline edits on both sides, then one exchange.
        phone.recordRunStatus(board, r1, RunEvent.PickUp, null, null)
        phone.addReceipt(board, r1, ReceiptInput(vendor = "Gear rental", totalCents = 2500))
        phone.recordRunStatus(board, r1, RunEvent.Deliver, null, null)
        office.addComment(board, r2, "oat milk for camera")
        assertTrue(b.progress().pendingLocalChanges > 0uL)
        pump(a, b)
        assertEquals(RunStatus.DELIVERED, office.getRun(board, r1).status)
        assertEquals(2500L, office.getRun(board, r1).receipts.single().totalCents)
        assertEquals("oat milk for camera", phone.getRun(board, r2).comments.single().text)
        assertEquals(office.listRuns(board), phone.listRuns(board))
        assertEquals(0uL, b.progress().pendingLocalChanges)

        // Garbage from the peer is a typed error, not a crash, and ends the link.
        assertThrows(SetlinkException.Sync::class.java) { b.receive(byteArrayOf(1, 2, 3, 4)) }
        b.closeLink()
        assertThrows(SetlinkException.Sync::class.java) { b.pollOutgoing() }
        a.closeLink()

        // A fresh link after reconnecting costs what changed, not the history.
        val a2 = office.openPeerLink(true)
        val b2 = phone.openPeerLink(false)
        pump(a2, b2)
        assertFalse(phone.listRuns(board).runs.isEmpty())
        office.closeStore()
        assertThrows(SetlinkException.StoreClosed::class.java) { a2.pollOutgoing() }
        phone.closeStore()
    }
}
