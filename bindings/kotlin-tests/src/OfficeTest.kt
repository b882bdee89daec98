package dev.setlink.tests

import dev.setlink.ffi.CallSource
import dev.setlink.ffi.CallSpec
import dev.setlink.ffi.Colour
import dev.setlink.ffi.CrewCallInput
import dev.setlink.ffi.MemberInfo
import dev.setlink.ffi.NewTask
import dev.setlink.ffi.Priority
import dev.setlink.ffi.Role
import dev.setlink.ffi.SetlinkException
import dev.setlink.ffi.SetlinkStore
import dev.setlink.ffi.TaskCategory
import dev.setlink.ffi.TaskEdit
import dev.setlink.ffi.TaskEvent
import dev.setlink.ffi.TaskStatus
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

class OfficeTest {
    private val tmp = TempDir()
    @After fun cleanup() = tmp.close()
    private val day = "2026-11-24"

    private fun coordinator(): SetlinkStore {
        val s = SetlinkStore.open(tmp.file("office.db"))
        s.setIdentity("m-coord", Role.COORDINATOR)
        s.createProduction(production(day), MemberInfo(name = "Casey", role = Role.COORDINATOR))
        s.addMember("m-pa", MemberInfo(name = "Pat", role = Role.PA, department = "Production"))
        s.addMember("m-cam", MemberInfo(name = "Cam", role = Role.CREW, department = "Camera"))
        return s
    }

    @Test
    fun tasksFromOpenToSignedOff() {
        val s = coordinator()
        val board = s.createBoard(day)
        val t = s.createTask(board, NewTask(title = "Table read coffee", category = TaskCategory.FOOD_ORDER,
            priority = Priority.URGENT, checklist = listOf("count heads", "order")))
        s.assignTask(board, t, "m-office")
        val entries = s.getTask(board, t).checklist
        assertEquals(listOf("count heads", "order"), entries.map { it.text })
        s.setChecklistDone(board, t, entries[0].id, true)
        s.recordTaskStatus(board, t, TaskEvent.Start, null, null)
        s.recordTaskStatus(board, t, TaskEvent.Block(reason = "waiting on headcount"), null, null)
        assertEquals("waiting on headcount", s.getTask(board, t).blockedReason)
        val blocked = assertThrows(SetlinkException.InvalidTransition::class.java) {
            s.recordTaskStatus(board, t, TaskEvent.Done, null, null)
        }
        assertEquals("blocked", blocked.from)
        s.recordTaskStatus(board, t, TaskEvent.Start, "headcount is 16", null)
        s.recordTaskStatus(board, t, TaskEvent.Done, null, null)
        s.recordTaskStatus(board, t, TaskEvent.SignOff, "thanks", null)
        s.editTask(board, t, TaskEdit(notes = "12 oat, 4 regular"))
        val done = s.getTask(board, t)
        assertEquals(TaskStatus.SIGNED_OFF, done.status)
        assertEquals("m-office", done.assignee)
        assertTrue(done.checklist[0].done)
        assertEquals("12 oat, 4 regular", done.notes)
        s.editTask(board, t, TaskEdit(clearNotes = true))
        assertNull(s.getTask(board, t).notes)
        assertEquals(1, s.listTasks(board).tasks.size)
        assertThrows(SetlinkException.InvalidInput::class.java) {
            s.recordTaskStatus(board, t, TaskEvent.Block(reason = ""), null, null)
        }
        s.closeStore()
    }

    @Test
    fun callSheetRevisionsAndPersonalCallTimes() {
        val s = coordinator()
        s.createCallSheet(day, emptySheet(day, 7 * 60))
        s.addCrewCall(day, CrewCallInput(department = "Production", name = "Pat", memberId = "m-pa", call = CallSpec.Offset(-60)))
        s.addCrewCall(day, CrewCallInput(department = "Camera", call = CallSpec.At(6 * 60 + 15)))
        val r1 = s.publishCallSheet(day, "")
        assertEquals(1L, r1.number)
        assertEquals(Colour.WHITE, r1.colour)
        s.setGeneralCall(day, 8 * 60)
        assertThrows(SetlinkException.InvalidInput::class.java) { s.publishCallSheet(day, "  ") }
        val r2 = s.publishCallSheet(day, "general call moves to 08:00")
        assertEquals(Colour.BLUE, r2.colour)
        assertEquals(listOf(1L, 2L), s.callSheetRevisions(day).revisions.map { it.number })
        assertEquals(listOf(day), s.productionDays().map { it.day })
        assertTrue(s.productionDays().single().callSheetPublishedId != null)

        // Each member's phone shows their own call: the PA's offset row moved with general call.
        s.setIdentity("m-pa", Role.PA)
        val mine = s.myCallSheet(day)!!
        assertEquals(2L, mine.revision.number)
        assertEquals("07:00", mine.callTime)
        assertEquals(CallSource.PERSONAL, mine.callSource)
        assertThrows(SetlinkException.Forbidden::class.java) { s.publishCallSheet(day, "nope") }
        s.setIdentity("m-cam", Role.CREW)
        val cam = s.myCallSheet(day)!!
        assertEquals("06:15", cam.callTime)
        assertEquals(CallSource.DEPARTMENT, cam.callSource)
        assertNull(s.myCallSheet("2026-11-25"))
        s.closeStore()
    }
}
