// A PA's day on the phone, scripted: the generated setlink bindings against a real relay.
//
//   scripts/mobile-demo.sh <relay-url> <pa-invite-code> <coordinator-invite-code>
//
// The coordinator code plays the production office on a second "device" in the same
// process, so the walk-through shows both sides converging.
package dev.setlink.demo

import dev.setlink.ffi.AckLevel
import dev.setlink.ffi.CallSpec
import dev.setlink.ffi.ConnectionState
import dev.setlink.ffi.CrewCallInput
import dev.setlink.ffi.DocumentKind
import dev.setlink.ffi.DocumentObserver
import dev.setlink.ffi.ChangeOrigin
import dev.setlink.ffi.ProofInput
import dev.setlink.ffi.Priority
import dev.setlink.ffi.RunKind
import dev.setlink.ffi.NewRun
import dev.setlink.ffi.ReceiptInput
import dev.setlink.ffi.Run
import dev.setlink.ffi.RunEvent
import dev.setlink.ffi.RunStatus
import dev.setlink.ffi.SetlinkException
import dev.setlink.ffi.SetlinkStore
import dev.setlink.ffi.SyncStatus
import dev.setlink.ffi.SyncStatusObserver
import kotlinx.coroutines.runBlocking
import java.nio.file.Files
import kotlin.system.exitProcess

private fun say(who: String, text: String) = println("[%-6s] %s".format(who, text))

private fun money(cents: Long) = "$%d.%02d".format(cents / 100, cents % 100)

private fun show(r: Run) =
    "${r.title} — ${r.status.name.lowercase().replace('_', ' ')}" +
        (r.stops.firstOrNull()?.let { " @ ${it.label}" } ?: "") +
        (if (r.receipts.isNotEmpty()) " (receipt ${money(r.receipts.sumOf { it.totalCents })})" else "")

private fun check(cond: Boolean, what: String) {
    if (!cond) throw IllegalStateException("demo check failed: $what")
}

fun main(args: Array<String>) {
    if (args.size < 3) {
        System.err.println("usage: PaDay <relay-url> <pa-invite-code> <coordinator-invite-code>")
        exitProcess(2)
    }
    val (url, paCode, coordCode) = args
    val dir = Files.createTempDirectory("setlink-demo").toFile()
    try {
        runDay(url, paCode, coordCode, dir.absolutePath)
        println("DEMO OK")
    } catch (e: SetlinkException) {
        System.err.println("demo failed: ${e.javaClass.simpleName}: ${e.message}")
        exitProcess(1)
    } catch (e: IllegalStateException) {
        System.err.println(e.message)
        exitProcess(1)
    } finally {
        dir.deleteRecursively()
    }
}

private fun runDay(url: String, paCode: String, coordCode: String, dir: String) = runBlocking {
    val phone = SetlinkStore.open("$dir/pa-phone.db")
    val office = SetlinkStore.open("$dir/office.db")

    // --- morning: the PA installs the app and redeems the invite -------------------------
    val me = phone.redeemInvite(url, paCode, "Pat PA")
    say("phone", "signed in as ${me.role.name.lowercase()} ${me.memberId.take(8)}… on ${url}")
    phone.addSyncStatusObserver(object : SyncStatusObserver {
        override fun syncStatusChanged(status: SyncStatus) {
            if (status.state == ConnectionState.IN_SYNC || status.state == ConnectionState.OFFLINE) {
                say("phone", "sync: ${status.state.name.lowercase().replace('_', ' ')}" +
                    (if (status.running) "" else " (stopped)"))
            }
        }
    })
    phone.addDocumentObserver(object : DocumentObserver {
        override fun documentChanged(docId: String, kind: DocumentKind?, origin: ChangeOrigin) {
            if (origin == ChangeOrigin.REMOTE && kind is DocumentKind.CallSheetPublished) {
                say("phone", "🔔 call sheet updated for ${kind.day}")
            }
        }
    })
    phone.startSync(url, me.token)
    check(phone.waitUntilSynced(30_000uL), "phone syncs with the relay")

    val coord = office.redeemInvite(url, coordCode, "Casey Coordinator")
    office.startSync(url, coord.token)
    check(office.waitUntilSynced(30_000uL), "office syncs with the relay")

    val today = phone.productionDays().lastOrNull { it.boardId != null }
        ?: throw IllegalStateException("no day with a board in the production")
    val board = today.boardId!!
    // Runs Pat can still pick up. A second run of the demo against the same relay finds
    // the first run's already picked up and delivered, so the office hands Pat fresh ones.
    val pickable = setOf(RunStatus.ASSIGNED, RunStatus.ACCEPTED, RunStatus.EN_ROUTE)
    var open = phone.myRuns(board).runs.filter { it.status in pickable }
    if (open.size < 2) {
        repeat(2 - open.size) { i ->
            val id = office.createRun(board, NewRun(kind = RunKind.PICKUP, title = "Batteries for camera B (${i + 1})",
                requestedBy = "Camera", priority = Priority.NORMAL))
            office.assignRun(board, id, me.memberId, null, null)
        }
        say("office", "assigned Pat ${2 - open.size} fresh run(s)")
        check(office.waitUntilSynced(30_000uL), "office's runs reach the relay")
        val until = System.currentTimeMillis() + 30_000
        while (open.size < 2 && System.currentTimeMillis() < until) {
            Thread.sleep(50)
            open = phone.myRuns(board).runs.filter { it.status in pickable }
        }
    }
    var mine = phone.myRuns(board).runs
    say("phone", "runs assigned to me for ${today.day}:")
    mine.forEach { say("phone", "  • ${show(it)}") }
    check(open.size >= 2, "at least two runs assigned that can be picked up")
    val before = phone.myCallSheet(today.day)
    before?.let { say("phone", "call sheet rev ${it.revision.number} (${it.revision.colour.name.lowercase()}): my call ${it.callTime}") }

    // --- signal lost: the van goes into the underground loading dock -------------------
    phone.stopSync()
    say("phone", "📵 signal lost — working offline")
    val (first, second) = open
    phone.recordRunStatus(board, first.id, RunEvent.PickUp, "batteries in the van", null)
    say("phone", "picked up: ${first.title}")
    phone.recordRunStatus(board, second.id, RunEvent.PickUp, null, null)
    val vendor = second.stops.firstOrNull()?.label ?: "the vendor"
    phone.addReceipt(board, second.id, ReceiptInput(vendor = vendor, totalCents = 4620, taxCents = 380, accountCode = "2100"))
    phone.setProofOfDelivery(board, second.id, ProofInput(receivedBy = "Sam (camera)", note = "left at the camera cart"))
    phone.recordRunStatus(board, second.id, RunEvent.Deliver, null, null)
    say("phone", "delivered: ${second.title} with a ${money(4620)} receipt from $vendor, received by Sam")

    // --- meanwhile in the office --------------------------------------------------------
    val paId = me.memberId
    val spare = office.listRuns(board).runs.firstOrNull { it.assignedPa == null && it.status == RunStatus.REQUESTED }
    if (spare != null) {
        office.assignRun(board, spare.id, paId, "urgent: sides to stage 4", null)
        say("office", "assigned \"${spare.title}\" to Pat")
    }
    val draft = runCatching { office.callSheetDraft(today.day).sheet }.getOrNull()
    check(draft != null, "the office can read today's call sheet draft")
    val general = draft!!.times.generalCall ?: (7 * 60L)
    // Pat's own call is added once; a later run of the demo on the same relay finds it.
    if (draft.crewCalls.none { it.memberId == paId }) {
        office.addCrewCall(today.day, CrewCallInput(department = "Production", name = "Pat", memberId = paId, call = CallSpec.Offset(-45)))
    }
    // Earlier by 30 minutes, or (once it is early enough) back later, so every run changes it.
    val (newGeneral, move) = if (general >= 5 * 60) Pair(general - 30, "30 min earlier") else Pair(general + 30, "30 min later")
    office.setGeneralCall(today.day, newGeneral)
    val rev = office.publishCallSheet(today.day, "General call $move; Pat in 45 min before call")
    say("office", "published call sheet revision ${rev.number} (${rev.colour.name.lowercase()})")
    check(office.waitUntilSynced(30_000uL), "office change reaches the relay")

    // --- back in range -----------------------------------------------------------------
    say("phone", "📶 back in range")
    val started = System.nanoTime()
    phone.resumeSync()
    check(phone.waitUntilSynced(30_000uL), "phone catches up")
    say("phone", "synced in %d ms".format((System.nanoTime() - started) / 1_000_000))
    check(phone.flushObservers(5_000uL), "observers heard everything")
    mine = phone.myRuns(board).runs
    say("phone", "runs assigned to me now:")
    mine.forEach { say("phone", "  • ${show(it)}") }
    if (spare != null) check(mine.any { it.id == spare.id }, "reassigned run arrived")

    val sheet = phone.myCallSheet(today.day) ?: throw IllegalStateException("no published call sheet")
    check(sheet.revision.number == rev.number, "phone shows the new revision")
    say("phone", "call sheet rev ${sheet.revision.number} (${sheet.revision.colour.name.lowercase()}): " +
        "\"${sheet.revision.summary}\" — my call ${sheet.callTime} (${sheet.callSource.name.lowercase()})")
    // "Received" is recorded by the phone's store itself when the revision synced.
    check(sheet.acknowledgement?.receivedAtMs != null, "received recorded when the sheet synced")
    phone.acknowledgeCallSheet(today.day, sheet.revision.number, AckLevel.CONFIRMED)
    say("phone", "acknowledged revision ${sheet.revision.number}: received, opened, confirmed")
    check(phone.waitUntilSynced(30_000uL), "acknowledgement reaches the relay")

    // --- the office sees all of it -----------------------------------------------------
    val deadline = System.currentTimeMillis() + 30_000
    while (System.currentTimeMillis() < deadline &&
        (office.getRun(board, second.id).status != RunStatus.DELIVERED ||
            office.whoHasNot(today.day, sheet.revision.number, AckLevel.CONFIRMED).contains(paId))) {
        Thread.sleep(50)
    }
    val delivered = office.getRun(board, second.id)
    check(delivered.status == RunStatus.DELIVERED, "office sees the delivery")
    say("office", "board: ${show(delivered)}; proof: ${delivered.proofOfDelivery?.receivedBy}")
    say("office", "board: ${show(office.getRun(board, first.id))}")
    val missing = office.whoHasNot(today.day, sheet.revision.number, AckLevel.CONFIRMED)
    check(!missing.contains(paId), "office sees Pat's confirmation")
    say("office", "not yet confirmed rev ${sheet.revision.number}: ${missing.size} member(s); Pat confirmed")

    phone.stopSync()
    office.stopSync()
    phone.closeStore()
    office.closeStore()
}
