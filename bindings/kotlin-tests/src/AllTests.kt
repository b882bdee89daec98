package dev.setlink.tests

val ALL_TESTS: List<Class<*>> = listOf(
    StoreTest::class.java,
    RunsTest::class.java,
    SyncTest::class.java,
    PeerTest::class.java,
    RefusalTest::class.java,
    OfficeTest::class.java,
    DemoTest::class.java,
    TlsTest::class.java,
    PhotoTest::class.java,
    GearTest::class.java,
    BackgroundTest::class.java,
    TimesheetTest::class.java,
)
