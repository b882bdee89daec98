package dev.setlink.tests

import dev.setlink.ffi.SetlinkException
import dev.setlink.ffi.parseDocumentId
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Test

class IdsTest {
    @Test
    fun invalidIdArrivesAsTypedExceptionWithFields() {
        val e = assertThrows(SetlinkException.InvalidId::class.java) { parseDocumentId("not-an-id") }
        assertEquals("not-an-id", e.value)
    }
}
