package dev.setlink.tests

import dev.setlink.ffi.SetlinkException
import dev.setlink.ffi.SetlinkStore
import dev.setlink.ffi.TimesheetDecision
import dev.setlink.ffi.TimesheetInput
import dev.setlink.ffi.TimesheetStatus
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Test
import java.time.LocalDate
import java.time.ZoneOffset

/**
 * A PA's timesheet at wrap (issue #15): submitted with no signal, returned by the
 * coordinator with a note, corrected and approved; the PA's phone follows every step.
 */
class TimesheetTest {
    private val tmp = TempDir()
    private val relay = Relay()
    private val stores = mutableListOf<SetlinkStore>()

    @After fun cleanup() {
        stores.forEach { it.closeStore() }
        relay.close()
        tmp.close()
    }

    /** `hour`:00 UTC on the relay's demo day, in ms. */
    private fun at(hour: Long): Long =
        LocalDate.parse(relay.day).atStartOfDay().toInstant(ZoneOffset.UTC).toEpochMilli() + hour * 3_600_000

    @Test
    fun submittedOfflineReturnedWithANoteThenApproved() {
        val (coord, _) = joinDemo(relay, tmp, stores, "coordinator", "Casey")
        val (pa, paInv) = joinDemo(relay, tmp, stores, "pa", "Pat")
        assertEquals(TimesheetStatus.NOT_SUBMITTED, pa.myTimesheet(relay.day).status)

        runBlocking { pa.stopSync() }
        pa.submitTimesheet(relay.day, TimesheetInput(callMs = at(13), mealStartMs = at(19), mealEndMs = at(19) + 1_800_000,
            wrapMs = at(25), notes = "wrap after midnight"))
        val mine = pa.myTimesheet(relay.day)
        assertEquals(TimesheetStatus.SUBMITTED, mine.status)
        assertEquals(11L * 60 + 30, mine.workedMinutes)

        // A wrap before the call is refused on the phone, and nothing changes.
        assertThrows(SetlinkException.InvalidInput::class.java) {
            pa.submitTimesheet(relay.day, TimesheetInput(callMs = at(13), wrapMs = at(12)))
        }
        assertEquals(1u, pa.myTimesheet(relay.day).submissions)

        runBlocking { pa.resumeSync() }
        waitUntil(30_000, "the coordinator to see the submission") {
            runCatching { coord.timesheetOf(paInv.memberId, relay.day).status == TimesheetStatus.SUBMITTED }
                .getOrDefault(false)
        }
        val first = coord.timesheetOf(paInv.memberId, relay.day)
        // A PA may not approve anything, their own included.
        assertThrows(SetlinkException.Forbidden::class.java) {
            pa.reviewTimesheet(paInv.memberId, relay.day, first.submissionId!!, TimesheetDecision.APPROVED, null)
        }
        coord.reviewTimesheet(paInv.memberId, relay.day, first.submissionId!!, TimesheetDecision.RETURNED,
            "meal was 19:00 to 20:00")
        waitUntil(30_000, "the PA to see it returned") { pa.myTimesheet(relay.day).status == TimesheetStatus.RETURNED }
        assertEquals("meal was 19:00 to 20:00", pa.myTimesheet(relay.day).reviewNote)

        pa.submitTimesheet(relay.day, TimesheetInput(callMs = at(13), mealStartMs = at(19), mealEndMs = at(20),
            wrapMs = at(25)))
        waitUntil(30_000, "the coordinator to see the correction") {
            coord.timesheetOf(paInv.memberId, relay.day).submissions == 2u
        }
        val second = coord.timesheetOf(paInv.memberId, relay.day)
        assertEquals(11L * 60, second.workedMinutes)
        coord.reviewTimesheet(paInv.memberId, relay.day, second.submissionId!!, TimesheetDecision.APPROVED, null)
        waitUntil(30_000, "the PA to see it approved") { pa.myTimesheet(relay.day).status == TimesheetStatus.APPROVED }
        assertEquals(2, pa.myTimesheets().days.single().submissions.toInt())
    }
}
