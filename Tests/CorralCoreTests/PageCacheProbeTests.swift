import Testing
@testable import CorralCore

/// When reads stop asking the page cache first (`PageCacheProbe`), and when they ask again.
struct PageCacheProbeTests {
    /// Asks `count` times in a row what `probe` says, feeding each ask `hit`; returns how many asked.
    func reads(_ count: Int, _ probe: inout PageCacheProbe, hit: Bool) -> Int {
        var asked = 0
        for _ in 0..<count where probe.shouldAsk() {
            asked += 1
            probe.asked(hit: hit)
        }
        return asked
    }

    @Test func hitsKeepAsking() {
        var probe = PageCacheProbe()
        #expect(reads(1000, &probe, hit: true) == 1000)
        #expect(!probe.skipping)
    }

    @Test func aRunOfMissesStopsAskingButForOneReadInSixteen() {
        var probe = PageCacheProbe()
        #expect(reads(PageCacheProbe.missesBeforeSkipping, &probe, hit: false) == PageCacheProbe.missesBeforeSkipping)
        #expect(probe.skipping)
        #expect(reads(PageCacheProbe.askEvery * 10, &probe, hit: false) == 10, "one ask in askEvery while the reads miss")
        #expect(probe.skipping)
    }

    @Test func aHitWhileSkippingBringsAskingBack() {
        var probe = PageCacheProbe()
        _ = reads(PageCacheProbe.missesBeforeSkipping, &probe, hit: false)
        #expect(reads(PageCacheProbe.askEvery, &probe, hit: true) == 1, "the sampled read asks")
        #expect(!probe.skipping, "and finds the data cached")
        #expect(reads(50, &probe, hit: true) == 50)
    }

    @Test func missesBetweenHitsDoNotStopAsking() {
        var probe = PageCacheProbe()
        for _ in 0..<100 {
            #expect(reads(PageCacheProbe.missesBeforeSkipping - 1, &probe, hit: false) == PageCacheProbe.missesBeforeSkipping - 1)
            #expect(reads(1, &probe, hit: true) == 1)
        }
        #expect(!probe.skipping)
    }
}
