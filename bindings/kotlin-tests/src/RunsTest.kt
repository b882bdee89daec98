package dev.setlink.tests

import dev.setlink.ffi.ChangeOrigin
import dev.setlink.ffi.DocumentKind
import dev.setlink.ffi.DocumentObserver
import dev.setlink.ffi.ItemInput
import dev.setlink.ffi.Location
import dev.setlink.ffi.NewRun
import dev.setlink.ffi.ProofInput
import dev.setlink.ffi.ReceiptInput
import dev.setlink.ffi.Role
import dev.setlink.ffi.RunEdit
import dev.setlink.ffi.RunEvent
import dev.setlink.ffi.RunEventKind
import dev.setlink.ffi.RunKind
import dev.setlink.ffi.RunStatus
import dev.setlink.ffi.Priority
import dev.setlink.ffi.SetlinkException
import dev.setlink.ffi.SetlinkStore
import dev.setlink.ffi.StopInput
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.util.Collections
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

fun newRun(title: String, kind: RunKind = RunKind.PICKUP) = NewRun(
    kind = kind, title = title, requestedBy = "Art dept", priority = Priority.NORMAL,
    stops = listOf(StopInput(label = "Props house", address = "12 Mill St")),
    items = listOf(ItemInput(description = "Red chair", quantity = 2)),
)

class RunsTest {
    private val tmp = TempDir()
    @After fun cleanup() = tmp.close()

    private fun coordinatorStore(name: String = "s.db"): Pair<SetlinkStore, String> {
        val s = SetlinkStore.open(tmp.file(name))
        s.setIdentity("m-coord", Role.COORDINATOR)
        return s to s.createBoard("2026-11-24")
    }

    @Test
    fun offlineRunLifecycleIsDurableAcrossReopen() {
        val path = tmp.file("life.db")
        var (s, board) = SetlinkStore.open(path).let { it.setIdentity("m-coord", Role.COORDINATOR); it to it.createBoard("2026-11-24") }
        val run = s.createRun(board, newRun("Chairs for set"))
        s.assignRun(board, run, "m-pa", "please", null)
        s.setIdentity("m-pa", Role.PA)
        assertEquals(listOf(run), s.myRuns(board).runs.map { it.id })
        s.recordRunStatus(board, run, RunEvent.Accept, null, null)
        s.recordRunStatus(board, run, RunEvent.PickUp, null, Location(lat = 51.5, lon = -0.12, label = "props house"))
        val receipt = s.addReceipt(board, run, ReceiptInput(vendor = "Props house", totalCents = 4200, taxCents = 350))
        s.setProofOfDelivery(board, run, ProofInput(receivedBy = "Sam (set dec)"))
        s.recordRunStatus(board, run, RunEvent.Deliver, "left at stage 4", null)
        s.closeStore()

        s = SetlinkStore.open(path)
        val r = s.getRun(board, run)
        assertEquals(RunStatus.DELIVERED, r.status)
        assertEquals("m-pa", r.assignedPa)
        assertEquals(listOf(receipt), r.receipts.map { it.id })
        assertEquals(4200L, r.receipts[0].totalCents)
        assertEquals("Sam (set dec)", r.proofOfDelivery?.receivedBy)
        assertEquals(
            listOf(RunEventKind.CREATED, RunEventKind.ASSIGNED, RunEventKind.ACCEPTED, RunEventKind.PICKED_UP, RunEventKind.DELIVERED),
            r.events.map { it.kind })
        assertEquals("props house", r.events[3].location?.label)
        assertEquals(2L, r.items[0].quantity)
        s.closeStore()
    }

    @Test
    fun aCoordinatorTakesARunOffItsPaAndAPaCannot() {
        val (s, board) = coordinatorStore()
        val run = s.createRun(board, newRun("Walkies to base camp"))
        s.assignRun(board, run, "m-pa", null, null)
        s.setIdentity("m-pa", Role.PA)
        s.recordRunStatus(board, run, RunEvent.Accept, null, null)
        assertThrows(SetlinkException.Forbidden::class.java) { s.unassignRun(board, run, null, null) }
        assertEquals(RunStatus.ACCEPTED, s.getRun(board, run).status)

        s.setIdentity("m-coord", Role.COORDINATOR)
        s.unassignRun(board, run, "needed on set instead", null)
        val r = s.getRun(board, run)
        assertEquals(RunStatus.REQUESTED, r.status)
        assertNull(r.assignedPa)
        // The history keeps who had it, then the unassignment naming nobody.
        val assigned = r.events.filter { it.kind == RunEventKind.ASSIGNED }
        assertEquals(listOf("m-pa", null), assigned.map { it.assignee })
        assertEquals("needed on set instead", assigned.last().note)
        // Nobody has it now: unassigning again is refused, and changes nothing.
        val before = s.getRun(board, run).events.size
        assertThrows(SetlinkException::class.java) { s.unassignRun(board, run, null, null) }
        assertEquals(before, s.getRun(board, run).events.size)
        s.closeStore()
    }

    @Test
    fun editsClearAndSetFields() {
        val (s, board) = coordinatorStore()
        val run = s.createRun(board, newRun("Coffee").copy(department = "Camera", neededByMs = 1_800_000_000_000))
        s.editRun(board, run, RunEdit(title = "Coffee x12", clearDepartment = true, priority = Priority.URGENT))
        val r = s.getRun(board, run)
        assertEquals("Coffee x12", r.title)
        assertNull(r.department)
        assertEquals(Priority.URGENT, r.priority)
        assertEquals(1_800_000_000_000, r.neededByMs)
        val e = assertThrows(SetlinkException.InvalidInput::class.java) {
            s.editRun(board, run, RunEdit(department = "Grip", clearDepartment = true))
        }
        assertEquals("department", e.field)
        s.closeStore()
    }

    @Test
    fun typedErrorsCarryTheirFieldsAndChangeNothing() {
        val (s, board) = coordinatorStore()
        val run = s.createRun(board, newRun("Sides to set", RunKind.PICKUP))
        val before = s.getRun(board, run)

        val t = assertThrows(SetlinkException.InvalidTransition::class.java) {
            s.recordRunStatus(board, run, RunEvent.Reconcile, null, null)
        }
        assertEquals("requested", t.from)

        val nf = assertThrows(SetlinkException.NotFound::class.java) { s.getRun(board, "no-such-run") }
        assertEquals("run", nf.what)
        assertEquals("no-such-run", nf.id)

        val bad = assertThrows(SetlinkException.InvalidInput::class.java) {
            s.addItem(board, run, ItemInput(description = "nothing", quantity = 0))
        }
        assertTrue(bad.field, bad.field.contains("quantity"))

        assertThrows(SetlinkException.InvalidInput::class.java) {
            s.recordRunStatus(board, run, RunEvent.Accept, null, Location(lat = 123.0, lon = 0.0, label = null))
        }

        s.setIdentity("m-pa", Role.PA)
        val f = assertThrows(SetlinkException.Forbidden::class.java) { s.assignRun(board, run, "m-pa", null, null) }
        assertEquals("pa", f.role)

        s.setIdentity("m-crew", Role.CREW)
        val crew = assertThrows(SetlinkException.Forbidden::class.java) { s.createRun(board, newRun("x")) }
        assertEquals("crew", crew.role)

        assertThrows(SetlinkException.InvalidId::class.java) { s.listRuns("not a doc id") }
        val elsewhere = SetlinkStore.open(tmp.file("other.db"))
        elsewhere.setIdentity("m-coord", Role.COORDINATOR)
        val foreignBoard = elsewhere.createBoard("2026-11-25")
        elsewhere.closeStore()
        val unknown = assertThrows(SetlinkException.NotFound::class.java) { s.listRuns("automerge:$foreignBoard") }
        assertEquals("document", unknown.what)
        assertThrows(SetlinkException.InvalidInput::class.java) { s.createBoard("24/11/2026") }

        s.setIdentity("m-coord", Role.COORDINATOR)
        assertEquals(before, s.getRun(board, run))
        s.closeStore()
    }

    @Test
    fun observersHearLocalChangesAndAThrowingObserverDoesNotCrash() {
        val (s, board) = coordinatorStore()
        val heard = CopyOnWriteArrayList<Triple<String, DocumentKind?, ChangeOrigin>>()
        s.addDocumentObserver(object : DocumentObserver {
            override fun documentChanged(docId: String, kind: DocumentKind?, origin: ChangeOrigin) {
                throw IllegalStateException("observer bug")
            }
        })
        val id = s.addDocumentObserver(object : DocumentObserver {
            override fun documentChanged(docId: String, kind: DocumentKind?, origin: ChangeOrigin) {
                heard.add(Triple(docId, kind, origin))
            }
        })
        val run = s.createRun(board, newRun("Ice"))
        s.addComment(board, run, "bags of ice, not cubes")
        assertTrue(s.flushObservers(5_000uL))
        assertEquals(2, heard.size)
        assertTrue(heard.all { it.first == board && it.second == DocumentKind.Board("2026-11-24") && it.third == ChangeOrigin.LOCAL })
        assertEquals(2uL, s.observerFailures())
        // A refused operation changes nothing, so nobody hears about it.
        assertThrows(SetlinkException::class.java) { s.recordRunStatus(board, run, RunEvent.Deliver, null, null) }
        assertTrue(s.removeObserver(id))
        s.addComment(board, run, "after removal")
        assertTrue(s.flushObservers(5_000uL))
        assertEquals(2, heard.size)
        assertEquals(3uL, s.observerFailures())
        s.closeStore()
    }

    @Test
    fun manyThreadsWriteAndReadAtOnce() {
        val (s, board) = coordinatorStore()
        val pool = Executors.newFixedThreadPool(8)
        val ids = Collections.synchronizedList(mutableListOf<String>())
        val errors = Collections.synchronizedList(mutableListOf<Throwable>())
        repeat(8) { t ->
            pool.submit {
                try {
                    repeat(15) { i ->
                        val id = s.createRun(board, newRun("run $t-$i"))
                        ids.add(id)
                        s.addComment(board, id, "thread $t")
                        s.listRuns(board)
                    }
                } catch (e: Throwable) { errors.add(e) }
            }
        }
        pool.shutdown()
        assertTrue(pool.awaitTermination(120, TimeUnit.SECONDS))
        assertEquals(emptyList<Throwable>(), errors)
        val runs = s.listRuns(board).runs
        assertEquals(120, runs.size)
        assertEquals(ids.toSet(), runs.map { it.id }.toSet())
        assertTrue(runs.all { it.comments.size == 1 })
        s.closeStore()
    }

    @Test
    fun closingWhileOtherThreadsCallGivesStoreClosedNotACrash() {
        val (s, board) = coordinatorStore()
        val pool = Executors.newFixedThreadPool(4)
        val unexpected = Collections.synchronizedList(mutableListOf<Throwable>())
        val closedSeen = java.util.concurrent.atomic.AtomicInteger()
        repeat(4) {
            pool.submit {
                repeat(50) {
                    try { s.createRun(board, newRun("r")) }
                    catch (e: SetlinkException.StoreClosed) { closedSeen.incrementAndGet() }
                    catch (e: Throwable) { unexpected.add(e) }
                }
            }
        }
        Thread.sleep(50)
        s.closeStore()
        pool.shutdown()
        assertTrue(pool.awaitTermination(60, TimeUnit.SECONDS))
        assertEquals(emptyList<Throwable>(), unexpected)
        assertTrue(closedSeen.get() > 0)
    }
}
