package dev.setlink.tests

import dev.setlink.ffi.AckLevel
import dev.setlink.ffi.CallSheet
import dev.setlink.ffi.CallSpec
import dev.setlink.ffi.Colour
import dev.setlink.ffi.ConnectionState
import dev.setlink.ffi.CrewCallInput
import dev.setlink.ffi.Header
import dev.setlink.ffi.ReceiptInput
import dev.setlink.ffi.Role
import dev.setlink.ffi.RunEvent
import dev.setlink.ffi.RunStatus
import dev.setlink.ffi.SetlinkException
import dev.setlink.ffi.SetlinkStore
import dev.setlink.ffi.SyncStatus
import dev.setlink.ffi.SyncStatusObserver
import dev.setlink.ffi.TempUnit
import dev.setlink.ffi.Times
import dev.setlink.ffi.Weather
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.util.concurrent.CopyOnWriteArrayList

fun emptySheet(day: String, generalCall: Long) = CallSheet(
    header = Header(productionTitle = "Night Shift", date = day, dayNumber = 1, totalDays = 20, callSheetNumber = 1,
        director = "D. Rector", producers = listOf(), upm = null, ads = listOf(), productionOfficePhone = null),
    times = Times(generalCall = generalCall, shootingCall = null, meals = listOf(), estimatedWrap = null),
    weather = Weather(high = null, low = null, unit = TempUnit.FAHRENHEIT, conditions = null, rainChancePercent = null,
        sunrise = null, sunset = null, weatherCoverSet = null),
    locations = listOf(), nearestHospital = null, scenes = listOf(), cast = listOf(), background = listOf(),
    crewCalls = listOf(), departmentNotes = listOf(), advanceSchedule = listOf(), walkieChannels = listOf(),
    safetyNotes = listOf(),
)

class SyncTest {
    private val tmp = TempDir()
    private val relay = Relay()
    private val stores = mutableListOf<SetlinkStore>()

    @After fun cleanup() {
        stores.forEach { it.closeStore() }
        relay.close()
        tmp.close()
    }

    private fun member(role: String, name: String): SetlinkStore {
        val (s, inv) = joinDemo(relay, tmp, stores, role, name)
        assertEquals(role, inv.role.name.lowercase())
        return s
    }

    private fun board(s: SetlinkStore): String =
        s.productionDays().single { it.day == relay.day }.boardId ?: throw AssertionError("no board for today")

    @Test
    fun redeemSyncAndSeeAssignedRuns() {
        val pa = member("pa", "Pat")
        val statuses = CopyOnWriteArrayList<SyncStatus>()
        pa.addSyncStatusObserver(object : SyncStatusObserver {
            override fun syncStatusChanged(status: SyncStatus) { statuses.add(status) }
        })
        val board = board(pa)
        assertEquals(relay.boardId, board)
        val mine = pa.myRuns(board).runs
        assertEquals(2, mine.size)
        assertTrue(mine.all { it.status == RunStatus.ASSIGNED })
        assertEquals(4, pa.listRuns(board).runs.size)
        val st = pa.syncStatus()
        assertEquals(ConnectionState.IN_SYNC, st.state)
        assertTrue(st.running)
        assertNotNull(st.lastSyncedAtMs)
        runBlocking { pa.stopSync() }
        assertTrue(pa.flushObservers(5_000uL))
        assertEquals(ConnectionState.IN_SYNC, statuses.first().state)
        assertFalse(statuses.last().running)
        assertEquals(ConnectionState.OFFLINE, pa.syncStatus().state)
    }

    @Test
    fun presenceReachesTheOfficeLiveAndIsNeverStored() {
        val coord = member("coordinator", "Casey")
        val pa = member("pa", "Pat")
        val board = board(pa)
        val run = pa.myRuns(board).runs.first().id
        val heard = CopyOnWriteArrayList<dev.setlink.ffi.Presence>()
        coord.addPresenceObserver(object : dev.setlink.ffi.PresenceObserver {
            override fun presence(presence: dev.setlink.ffi.Presence) { heard.add(presence) }
        })
        val eta = mapOf("run" to run, "eta" to "10 min")
        waitUntil(20_000, "the coordinator to hear the PA's ETA") {
            assertTrue(pa.sendPresence(board, eta))
            heard.any { it.docId == board && it.fields == eta }
        }
        runBlocking { pa.stopSync() }
        assertFalse(pa.sendPresence(board, eta))
    }

    @Test
    fun badInviteCodeAndBadUrlAreTypedErrors() {
        val s = SetlinkStore.open(tmp.file("x.db")).also { stores.add(it) }
        val e = assertThrows(SetlinkException.Relay::class.java) {
            runBlocking { s.redeemInvite(relay.url, "NOPE-NOPE-NOPE", "Mallory") }
        }
        assertTrue("status ${e.status}", e.status.toInt() in 400..499)
        val u = assertThrows(SetlinkException.InvalidInput::class.java) {
            runBlocking { s.startSync("ftp://nowhere", "t") }
        }
        assertEquals("relay_url", u.field)
        assertThrows(SetlinkException.NoIdentity::class.java) { runBlocking { s.startSync(relay.url, "token") } }
        s.setIdentity("m", Role.PA)
        // A wrong token never gets in sync: the relay says why, and syncing stops and asks
        // the member to sign in again instead of retrying.
        runBlocking {
            s.startSync(relay.url, "not-a-token")
            assertFalse(s.waitUntilSynced(1_500uL))
            waitUntil(10_000, "sign in required") {
                s.syncStatus().state == ConnectionState.SIGN_IN_REQUIRED
            }
            s.stopSync()
        }
    }

    @Test
    fun offlinePaAndCoordinatorConvergeWithNewCallSheetRevision() {
        val coord = member("coordinator", "Casey")
        val pa = member("pa", "Pat")
        val board = board(pa)
        val paId = pa.identity()!!.memberId
        val (run1, run2) = pa.myRuns(board).runs.map { it.id }
        val unassigned = coord.listRuns(board).runs.first { it.assignedPa == null }.id

        // The demo seeds today's call sheet with revision 1 (White).
        assertEquals(1L, pa.myCallSheet(relay.day)!!.revision.number)

        runBlocking { pa.stopSync() }
        pa.recordRunStatus(board, run1, RunEvent.PickUp, null, null)
        pa.recordRunStatus(board, run2, RunEvent.PickUp, null, null)
        pa.addReceipt(board, run2, ReceiptInput(vendor = "Gear rental", totalCents = 1999, taxCents = 150))
        pa.recordRunStatus(board, run2, RunEvent.Deliver, "left with sound", null)
        assertTrue(pa.syncStatus().pendingLocalChanges == 0uL || !pa.syncStatus().running)

        coord.assignRun(board, unassigned, paId, "urgent, sorry", null)
        coord.addCrewCall(relay.day, CrewCallInput(department = "Production", name = "Pat", memberId = paId,
            call = CallSpec.Offset(-30)))
        coord.setGeneralCall(relay.day, 6 * 60 + 30)
        val rev2 = coord.publishCallSheet(relay.day, "General call 06:30; Pat 30 min early")
        assertEquals(2L, rev2.number)
        assertEquals(Colour.BLUE, rev2.colour)
        assertTrue(runBlocking { coord.waitUntilSynced(30_000uL) })

        runBlocking { pa.resumeSync() }
        assertTrue(runBlocking { pa.waitUntilSynced(30_000uL) })
        val mine = pa.myRuns(board).runs.associateBy { it.id }
        assertEquals(setOf(run1, run2, unassigned), mine.keys)
        val sheet = pa.myCallSheet(relay.day)!!
        assertEquals(2L, sheet.revision.number)
        assertEquals(Colour.BLUE, sheet.revision.colour)
        assertEquals("06:00", sheet.callTime)
        pa.acknowledgeCallSheet(relay.day, 2, AckLevel.RECEIVED)
        assertTrue(runBlocking { pa.waitUntilSynced(30_000uL) })

        waitUntil(30_000, "coordinator to see the PA's offline work") {
            coord.getRun(board, run2).status == RunStatus.DELIVERED && !coord.whoHasNot(relay.day, 2, AckLevel.RECEIVED).contains(paId)
        }
        assertEquals(RunStatus.PICKED_UP, coord.getRun(board, run1).status)
        assertEquals(1999L, coord.getRun(board, run2).receipts.single().totalCents)
        assertEquals(RunStatus.ASSIGNED, coord.getRun(board, unassigned).status)
    }
}
