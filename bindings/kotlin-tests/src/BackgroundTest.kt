package dev.setlink.tests

import dev.setlink.ffi.BackgroundStatus
import dev.setlink.ffi.SetlinkException
import dev.setlink.ffi.SetlinkStore
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * Background at holding (issue #15): two PAs' phones check people in against the demo
 * call sheet's background rows, one of them with no signal; once both are back in range
 * both phones count the same, and nobody's check-in is lost.
 */
class BackgroundTest {
    private val tmp = TempDir()
    private val relay = Relay()
    private val stores = mutableListOf<SetlinkStore>()

    @After fun cleanup() {
        stores.forEach { it.closeStore() }
        relay.close()
        tmp.close()
    }

    @Test
    fun checkInsFromTwoPhonesOneOfflineAddUpOnBoth() {
        val (pa, _) = joinDemo(relay, tmp, stores, "pa", "Pat")
        val (office, _) = joinDemo(relay, tmp, stores, "office", "Olive")
        val day = relay.day
        waitUntil(30_000, "the PA to have the day's background list") {
            runCatching { pa.backgroundDay(day).counts.isNotEmpty() }.getOrDefault(false)
        }
        val pedestrians = pa.backgroundDay(day).counts.single { it.description == "Pedestrians" }
        assertEquals(20L, pedestrians.expected)
        assertEquals(0u, pedestrians.checkedIn)

        runBlocking { pa.stopSync() }
        val ann = pa.addBackgroundPerson(day, "Ann Extra", pedestrians.groupId, "red coat")
        val ben = pa.addBackgroundPerson(day, "Ben Extra", pedestrians.groupId, null)
        pa.checkInBackground(day, ann)
        pa.checkInBackground(day, ben)
        val cleo = office.addBackgroundPerson(day, "Cleo Extra", pedestrians.groupId, null)
        office.checkInBackground(day, cleo)
        // Releasing someone before their voucher is signed is refused; nothing changes.
        assertThrows(SetlinkException.InvalidTransition::class.java) { office.releaseBackground(day, cleo) }
        // A group that is not on the published sheet is refused.
        assertThrows(SetlinkException.NotFound::class.java) {
            pa.addBackgroundPerson(day, "Dee Extra", "no-such-row", null)
        }
        assertEquals(2u, pa.backgroundDay(day).counts.single { it.groupId == pedestrians.groupId }.checkedIn)

        runBlocking { pa.resumeSync() }
        waitUntil(30_000, "both phones to count three pedestrians in") {
            listOf(pa, office).all { s ->
                s.backgroundDay(day).counts.single { it.groupId == pedestrians.groupId }.checkedIn == 3u
            }
        }
        val onOffice = office.backgroundDay(day).people.single { it.id == ann }
        assertEquals(BackgroundStatus.CHECKED_IN, onOffice.status)
        assertEquals("red coat", onOffice.wardrobe)
        assertTrue(onOffice.checkedInAtMs != null)

        office.signBackgroundVoucher(day, cleo)
        office.releaseBackground(day, cleo)
        waitUntil(30_000, "the PA to see Cleo released") {
            pa.backgroundDay(day).counts.single { it.groupId == pedestrians.groupId }.released == 1u
        }
    }
}
