package dev.setlink.tests

import dev.setlink.ffi.Role
import dev.setlink.ffi.SetlinkException
import dev.setlink.ffi.SetlinkStore
import dev.setlink.ffi.parseDocumentId
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

class StoreTest {
    private val tmp = TempDir()

    @After fun cleanup() = tmp.close()

    @Test
    fun invalidIdArrivesAsTypedExceptionWithFields() {
        val e = assertThrows(SetlinkException.InvalidId::class.java) { parseDocumentId("not-an-id") }
        assertEquals("not-an-id", e.value)
        assertEquals("document id", e.what)
    }

    @Test
    fun identityPersistsAcrossReopen() {
        val path = tmp.file("a.db")
        val first = SetlinkStore.open(path)
        assertNull(first.identity())
        val id = first.setIdentity("m-pa", Role.PA)
        assertEquals("m-pa", id.memberId)
        first.closeStore()
        val again = SetlinkStore.open(path)
        val back = again.identity()!!
        assertEquals(Role.PA, back.role)
        assertEquals(id.deviceId, back.deviceId)
        again.closeStore()
    }

    @Test
    fun callsOnAClosedStoreThrowStoreClosed() {
        val s = SetlinkStore.open(tmp.file("c.db"))
        s.setIdentity("m1", Role.COORDINATOR)
        s.closeStore()
        assertFalse(s.isOpen())
        assertThrows(SetlinkException.StoreClosed::class.java) { s.identity() }
        assertThrows(SetlinkException.StoreClosed::class.java) { s.documents() }
        assertThrows(SetlinkException.StoreClosed::class.java) { s.setIdentity("m2", Role.PA) }
        s.closeStore() // idempotent
    }

    @Test
    fun aForeignFileIsAStorageErrorNotACrash() {
        val f = File(tmp.file("junk.db"))
        f.writeText("this is not a database at all, just some text ".repeat(200))
        val e = assertThrows(SetlinkException.Storage::class.java) { SetlinkStore.open(f.absolutePath) }
        assertTrue(e.path.endsWith("junk.db"))
    }

    @Test
    fun emptyInputsAreTypedErrors() {
        assertThrows(SetlinkException.InvalidInput::class.java) { SetlinkStore.open("  ") }
        val s = SetlinkStore.open(tmp.file("e.db"))
        val e = assertThrows(SetlinkException.InvalidInput::class.java) { s.setIdentity("", Role.PA) }
        assertEquals("member_id", e.field)
        assertThrows(SetlinkException.InvalidId::class.java) { s.documentKind("zzz") }
        s.closeStore()
    }

    @Test
    fun twoStoresHaveDifferentDeviceIds() {
        val a = SetlinkStore.open(tmp.file("1.db")).setIdentity("m", Role.PA)
        val b = SetlinkStore.open(tmp.file("2.db")).setIdentity("m", Role.PA)
        assertNotEquals(a.deviceId, b.deviceId)
    }
}
