package dev.setlink.tests

import dev.setlink.ffi.ConnectionState
import dev.setlink.ffi.RelayOptions
import dev.setlink.ffi.SetlinkException
import dev.setlink.ffi.SetlinkStore
import dev.setlink.ffi.SyncProblemKind
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * The relay serving TLS with a certificate from a CA made for the test: a phone trusting
 * that CA redeems over https:// and syncs over wss://; without it, redeeming and syncing
 * are refused with errors that say the certificate is not trusted.
 */
class TlsTest {
    private val tmp = TempDir()
    private val relay = Relay(tls = true)
    private val stores = mutableListOf<SetlinkStore>()

    @After fun cleanup() {
        stores.forEach { it.closeStore() }
        relay.close()
        tmp.close()
    }

    private fun open(name: String) = SetlinkStore.open(tmp.file("$name.db")).also { stores.add(it) }

    @Test
    fun redeemOverHttpsAndSyncOverWssTrustingTheProductionCa() = runBlocking {
        assertTrue(relay.url, relay.url.startsWith("https://"))
        val trust = RelayOptions(trustedCaPem = relay.caPem)
        val pa = open("pa")
        val inv = pa.redeemInvite(relay.url, relay.codes.getValue("pa"), "Pat", trust)
        pa.startSync(relay.url, inv.token, trust)
        assertTrue("the PA did not sync over wss://", pa.waitUntilSynced(30_000uL))
        val board = pa.productionDays().single { it.day == relay.day }.boardId!!
        assertEquals(2, pa.myRuns(board).runs.size)
        assertNull(pa.syncStatus().lastError)

        // After a restart the remembered CA is used again.
        pa.stopSync()
        assertTrue(pa.resumeSync())
        assertTrue("resumed sync over wss://", pa.waitUntilSynced(30_000uL))
        pa.stopSync()
    }

    @Test
    fun anUntrustedCertificateIsRefusedAndSaysSo() = runBlocking {
        val stranger = open("stranger")
        val e = assertThrows(SetlinkException.UntrustedCertificate::class.java) {
            runBlocking { stranger.redeemInvite(relay.url, relay.codes.getValue("pa"), "Pat") }
        }
        assertEquals("127.0.0.1", e.host)
        assertTrue(e.reason, e.reason.contains("not signed by an authority this device trusts"))
        assertTrue(e.reason, e.reason.contains("CA certificate"))

        // A token redeemed by a phone that trusts the CA, used by one that does not:
        // sync reports the certificate, not just "offline".
        val pa = open("pa")
        val inv = pa.redeemInvite(relay.url, relay.codes.getValue("pa"), "Pat", RelayOptions(trustedCaPem = relay.caPem))
        stranger.setIdentity(inv.memberId, dev.setlink.ffi.Role.PA)
        stranger.startSync(relay.url, inv.token)
        waitUntil(20_000, "the certificate problem in the status") { stranger.syncStatus().lastError != null }
        val st = stranger.syncStatus()
        assertEquals(SyncProblemKind.UNTRUSTED_CERTIFICATE, st.lastError!!.kind)
        assertTrue(st.lastError!!.message, st.lastError!!.message.contains("certificate is not trusted"))
        assertEquals(ConnectionState.OFFLINE, st.state)
        assertFalse(stranger.waitUntilSynced(500uL))
        stranger.stopSync()

        // A CA that is not a certificate, and plain http:// to another machine, are input errors.
        val bad = assertThrows(SetlinkException.InvalidInput::class.java) {
            runBlocking { pa.startSync(relay.url, inv.token, RelayOptions(trustedCaPem = "not a certificate")) }
        }
        assertEquals("trusted_ca_pem", bad.field)
        val plain = assertThrows(SetlinkException.InvalidInput::class.java) {
            runBlocking { pa.startSync("http://relay.example.org", inv.token) }
        }
        assertEquals("relay_url", plain.field)
        assertTrue(plain.reason, plain.reason.contains("use wss://"))
    }
}
