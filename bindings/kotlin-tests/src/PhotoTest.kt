package dev.setlink.tests

import dev.setlink.ffi.ReceiptInput
import dev.setlink.ffi.SetlinkException
import dev.setlink.ffi.SetlinkStore
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.net.URI
import java.net.URLEncoder
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import javax.imageio.ImageIO

/**
 * Photos that sync (issue #14): a PA photographs a receipt with no signal, logs it on the
 * run, and once back online the photo goes up after the run; the coordinator downloads the
 * same bytes, a crew member may not.
 */
class PhotoTest {
    private val tmp = TempDir()
    private val relay = Relay()
    private val stores = mutableListOf<SetlinkStore>()

    @After fun cleanup() {
        stores.forEach { it.closeStore() }
        relay.close()
        tmp.close()
    }

    private fun member(role: String, name: String): SetlinkStore = joinDemo(relay, tmp, stores, role, name).first

    private fun fixture(name: String): ByteArray {
        val root = System.getenv("SETLINK_ROOT") ?: throw IllegalStateException("SETLINK_ROOT is not set")
        return File(root, "bindings/kotlin-tests/fixtures/$name").readBytes()
    }

    @Test
    fun aReceiptPhotographedOfflineReachesTheCoordinatorAndNotTheCrew() {
        val receipt = fixture("receipt.jpg")
        val coord = member("coordinator", "Casey")
        val crew = member("crew", "Chris")
        val pa = member("pa", "Pat")
        val board = pa.productionDays().single { it.day == relay.day }.boardId
            ?: throw AssertionError("no board for today")
        val run = pa.myRuns(board).runs.first().id

        // No signal: the photo and the receipt are taken and logged on the phone.
        runBlocking { pa.stopSync() }
        val photo = pa.addPhoto(receipt)
        assertEquals("image/jpeg", photo.mimeType)
        assertEquals(receipt.size.toULong(), photo.sizeBytes)
        assertEquals("sha256:${photo.hash};image/jpeg", photo.reference)
        assertEquals(photo, pa.addPhoto(receipt))
        pa.addReceipt(board, run, ReceiptInput(vendor = "Hardware & Supply", totalCents = 6535, taxCents = 498,
            photoRef = photo.reference))
        assertEquals(receipt.size.toULong(), pa.syncStatus().attachmentBytesPending)
        assertArrayEquals(receipt, pa.photo(photo.reference))
        // Not a photo, whatever it is called: refused, nothing stored.
        val notAPhoto = File(tmp.dir, "receipt2.jpg").apply { writeText("a note, not a photo") }
        val refused = assertThrows(SetlinkException.PhotoUnsupported::class.java) {
            pa.addPhotoFile(notAPhoto.absolutePath)
        }
        assertEquals("text", refused.detected)
        assertEquals(receipt.size.toULong(), pa.syncStatus().attachmentBytesPending)

        // Signal again: the run syncs, then its photo goes up.
        runBlocking { pa.resumeSync() }
        waitUntil(30_000, "the photo to reach the relay") {
            val s = pa.syncStatus()
            s.running && s.attachmentBytesPending == 0uL
        }
        waitUntil(30_000, "the coordinator to see the receipt") {
            coord.getRun(board, run).receipts.any { it.photoRef == photo.reference }
        }
        assertNull(coord.photo(photo.reference))
        val downloaded = runBlocking { coord.fetchPhoto(photo.reference, board) }
        assertArrayEquals(receipt, downloaded)
        // Kept in the coordinator's cache.
        assertArrayEquals(receipt, coord.photo(photo.hash))

        // The coordinator's dashboard shows the receipt's thumbnail on the run page.
        val (page, thumb) = dashboardThumbnail(run, photo.hash)
        assertTrue("the run page links the thumbnail", page.contains("/dashboard/photos/${photo.hash}/thumb?day=${relay.day}"))
        val img = ImageIO.read(thumb.inputStream()) ?: throw AssertionError("the thumbnail is not an image")
        assertEquals("a 320 px thumbnail of the 600×800 receipt", 320, maxOf(img.width, img.height))

        // Crew may not read boards, so not their photos either.
        val forbidden = assertThrows(SetlinkException.Forbidden::class.java) {
            runBlocking { crew.fetchPhoto(photo.reference, board) }
        }
        assertTrue(forbidden.message ?: "", (forbidden.message ?: "").contains(photo.hash))
        assertNull(crew.photo(photo.hash))
    }

    /** Signs in to the relay's dashboard as the coordinator (as a browser posts the form)
     * and returns the run page's HTML and the receipt photo's thumbnail bytes. */
    private fun dashboardThumbnail(run: String, hash: String): Pair<String, ByteArray> {
        val http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build()
        val enc = { v: String -> URLEncoder.encode(v, Charsets.UTF_8) }
        val form = "code=${enc(relay.codes.getValue("coordinator"))}&name=${enc("Casey")}"
        val signIn = http.send(
            HttpRequest.newBuilder(URI("${relay.url}/dashboard/signin"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", relay.url)
                .POST(HttpRequest.BodyPublishers.ofString(form)).build(),
            HttpResponse.BodyHandlers.ofString())
        assertEquals(signIn.body(), 303, signIn.statusCode())
        val cookie = signIn.headers().firstValue("set-cookie").orElseThrow().substringBefore(';')
        val get = { path: String ->
            http.send(HttpRequest.newBuilder(URI("${relay.url}$path")).header("cookie", cookie).GET().build(),
                HttpResponse.BodyHandlers.ofByteArray())
        }
        val page = get("/dashboard/runs/$run?day=${relay.day}")
        assertEquals(200, page.statusCode())
        val thumb = get("/dashboard/photos/$hash/thumb?day=${relay.day}")
        assertEquals(200, thumb.statusCode())
        assertEquals("image/jpeg", thumb.headers().firstValue("content-type").orElse(""))
        return String(page.body(), Charsets.UTF_8) to thumb.body()
    }
}
