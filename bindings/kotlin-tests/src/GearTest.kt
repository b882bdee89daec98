package dev.setlink.tests

import dev.setlink.ffi.Battery
import dev.setlink.ffi.GearCategory
import dev.setlink.ffi.GearItemInput
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

/**
 * Walkies signed out with no signal (issue #15): the office and a PA both hand out the
 * same walkie while offline; once back in range both phones agree who has it and both show
 * the other sign-out as a conflict. Crew never see the gear list.
 */
class GearTest {
    private val tmp = TempDir()
    private val relay = Relay()
    private val stores = mutableListOf<SetlinkStore>()

    @After fun cleanup() {
        stores.forEach { it.closeStore() }
        relay.close()
        tmp.close()
    }

    @Test
    fun twoOfflineSignOutsOfOneWalkieEndTheSameOnBothPhones() {
        val (office, officeInv) = joinDemo(relay, tmp, stores, "office", "Olive")
        val (pa, paInv) = joinDemo(relay, tmp, stores, "pa", "Pat")
        val walkie = office.addGearItem(GearItemInput(name = "Walkie 7", category = GearCategory.WALKIE,
            label = "W-07", channel = 1, battery = Battery.FULL))
        waitUntil(30_000, "the PA to see the new walkie") {
            runCatching { pa.listGear().items.any { it.id == walkie } }.getOrDefault(false)
        }

        val walkiesOut = { s: SetlinkStore -> s.gearWrapCheck().stillOut.find { it.what == "walkie" }?.count ?: 0u }
        val outBefore = walkiesOut(pa)

        // Both lose signal; each hands the walkie out.
        runBlocking { office.stopSync(); pa.stopSync() }
        office.signOutGear(walkie, "Sam the day player", "for the second unit")
        pa.signOutGear(walkie, paInv.memberId, null)
        assertEquals(paInv.memberId, pa.listGear().items.single { it.id == walkie }.holder)
        assertTrue(pa.myGear().items.any { it.id == walkie })

        // Back in range: one holder everywhere, the other sign-out kept as a conflict.
        runBlocking { office.resumeSync(); pa.resumeSync() }
        waitUntil(30_000, "both phones to hold both sign-outs") {
            listOf(office, pa).all { s ->
                s.listGear().items.single { it.id == walkie }.events.count { it.kind.name == "SIGNED_OUT" } == 2
            }
        }
        val onOffice = office.listGear().items.single { it.id == walkie }
        val onPa = pa.listGear().items.single { it.id == walkie }
        assertEquals(onOffice.holder, onPa.holder)
        assertEquals(onOffice.conflicts, onPa.conflicts)
        assertEquals(1, onPa.conflicts.size)
        assertTrue(onPa.holder == paInv.memberId || onPa.holder == "Sam the day player")
        assertEquals(outBefore + 1u, walkiesOut(pa))
        assertTrue(pa.gearWrapCheck().summary.contains("walkie"))

        // Returned at wrap by whoever is at the truck: nothing is out any more.
        val ret = pa.returnGear(walkie, "battery low")
        assertTrue(ret.isNotEmpty())
        waitUntil(30_000, "the office to see the return") {
            office.listGear().items.single { it.id == walkie }.holder == null
        }
        assertEquals(outBefore, walkiesOut(office))
        assertNull(office.listGear().items.single { it.id == walkie }.holder)
        assertFalse(officeInv.memberId == paInv.memberId)

        // A second return of what is already in is refused and changes nothing.
        val before = pa.listGear().items.single { it.id == walkie }.events.size
        assertThrows(SetlinkException.InvalidTransition::class.java) { pa.returnGear(walkie, null) }
        assertEquals(before, pa.listGear().items.single { it.id == walkie }.events.size)
    }

    @Test
    fun aPaMayNotAddInventoryAndCrewNeverSeeTheGearList() {
        val (pa, _) = joinDemo(relay, tmp, stores, "pa", "Pat")
        val (crew, _) = joinDemo(relay, tmp, stores, "crew", "Chris")
        assertThrows(SetlinkException.Forbidden::class.java) {
            pa.addGearItem(GearItemInput(name = "C-stand", category = GearCategory.GRIP))
        }
        assertThrows(SetlinkException::class.java) { crew.listGear() }
    }
}
