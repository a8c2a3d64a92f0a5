import CShim
import Foundation
import Glibc
import Testing

@testable import EdgeCore

/// A fresh folder under /tmp, removed by `remove()`.
private struct Folder {
    let path: String
    init() {
        var template = Array("/tmp/edgecore-platform-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }
    func file(_ name: String) -> String { path + "/" + name }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Counts SIGUSR2 deliveries; installed without SA_RESTART, so a blocking call it interrupts fails with EINTR.
nonisolated(unsafe) private var interruptions = 0
private func installInterruptingHandler() {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in interruptions += 1 }
    action.sa_flags = 0
    sigemptyset(&action.sa_mask)
    sigaction(SIGUSR2, &action, nil)
    var unblocked = sigset_t()
    sigemptyset(&unblocked)
    sigaddset(&unblocked, SIGUSR2)
    pthread_sigmask(SIG_UNBLOCK, &unblocked, nil)
}

/// Sends SIGUSR2 to `thread` every 20 ms, `count` times, then runs `then`.
private func interrupt(_ thread: pthread_t, count: Int, then: @escaping () -> Void = {}) throws -> WorkerThread {
    try WorkerThread {
        for _ in 0..<count {
            usleep(20_000)
            pthread_kill(thread, SIGUSR2)
        }
        then()
    }
}

@Suite(.serialized) struct FileDescriptorTests {
    @Test func filesOpenCloseOnExecAndFailuresNameThePath() throws {
        let folder = Folder()
        defer { folder.remove() }
        let file = try FileDescriptor.open(FilePath(folder.file("a")), .writeOnly, [.create])
        #expect(FileDescriptor.closesOnExec(file.rawValue))
        #expect(fcntl(file.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        do throws(Failure) {
            _ = try FileDescriptor.open(FilePath(folder.file("none")), .readOnly)
            Issue.record("opened a missing file")
        } catch {
            #expect(error.kind == .system(.noEntry))
            #expect(error.message == folder.file("none") + ": No such file or directory")
        }
    }

    /// close() closes once: a second close (or the deinit) never closes a descriptor that reused the number.
    @Test func closeHappensExactlyOnce() throws {
        let folder = Folder()
        defer { folder.remove() }
        let first = try FileDescriptor.open(FilePath(folder.file("a")), .writeOnly, [.create])
        let number = first.rawValue
        first.close()
        #expect(first.rawValue == -1)
        let second = try FileDescriptor.open(FilePath(folder.file("b")), .writeOnly, [.create])
        first.close()
        #expect(fcntl(second.rawValue, F_GETFD) >= 0, "the second close closed \(number), now another file's")
        let released = second.release()
        #expect(second.rawValue == -1 && fcntl(released, F_GETFD) >= 0)  // release hands it over open
        close(released)
    }

    /// A read and a poll interrupted by signals (no SA_RESTART) carry on: the read returns the data written
    /// after the signals, the poll waits until its deadline.
    @Test func signalsDoNotEndAReadOrAPoll() throws {
        installInterruptingHandler()
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let reader = FileDescriptor(adopting: ends[0])
        let writer = FileDescriptor(adopting: ends[1])
        interruptions = 0
        let sender = try interrupt(pthread_self(), count: 5) {
            _ = try? writer.write([UInt8(ascii: "x")])
        }
        var byte: UInt8 = 0
        let count = try withUnsafeMutableBytes(of: &byte) { (buffer) throws(Failure) in try reader.read(into: buffer) }
        sender.join()
        #expect(count == 1 && byte == UInt8(ascii: "x"))
        #expect(interruptions >= 1, "no signal reached the read")

        interruptions = 0
        var poll = Poll()
        poll.add(reader.rawValue)
        let started = Clock.monotonicNanoseconds()
        let poller = try interrupt(pthread_self(), count: 5)
        let ready = try poll.wait(until: started + 300_000_000)
        poller.join()
        let waited = (Clock.monotonicNanoseconds() - started) / 1_000_000
        #expect(ready == 0 && waited >= 290, "poll ended after \(waited) ms with \(ready) ready")
        #expect(interruptions >= 1, "no signal reached the poll")
    }

    @Test func pollEndsAtItsDeadlineOrAtOnceWhenItHasPassed() throws {
        let event = try EventFD()
        var poll = Poll()
        poll.add(event.rawValue)
        var started = Clock.monotonicNanoseconds()
        #expect(try poll.wait(until: started + 100_000_000) == 0)
        let waited = Clock.monotonicNanoseconds() - started
        #expect(waited >= 99_000_000 && waited < 2_000_000_000, "\(waited) ns")
        started = Clock.monotonicNanoseconds()
        #expect(try poll.wait(until: started - 1) == 0)
        #expect(Clock.monotonicNanoseconds() - started < 50_000_000)
    }

    @Test func anEventFDNotifiedFromAnotherThreadWakesPollAndDrainEmptiesIt() throws {
        let event = try EventFD()
        #expect(FileDescriptor.closesOnExec(event.rawValue))
        #expect(fcntl(event.rawValue, F_GETFL) & O_NONBLOCK != 0)
        var poll = Poll()
        let slot = poll.add(event.rawValue)
        let started = Clock.monotonicNanoseconds()
        let notifier = try WorkerThread {
            usleep(50_000)
            event.notify()
            event.notify()
        }
        #expect(try poll.wait(until: started + 5_000_000_000) == 1)
        notifier.join()
        #expect(poll.isReadable(slot))
        #expect(Clock.monotonicNanoseconds() - started < 2_000_000_000)
        event.drain()
        #expect(try poll.wait(until: Clock.monotonicNanoseconds() + 20_000_000) == 0)  // empty again
        event.drain()  // nothing to drain: no failure, no block
    }
}

@Suite(.serialized) struct AtomicFileTests {
    /// A reader never sees part of a replacement: every read is the whole old content or the whole new.
    @Test func readersSeeTheOldContentOrTheNewNeverAMix() throws {
        let folder = Folder()
        defer { folder.remove() }
        let path = FilePath(folder.file("state"))
        let contents = [[UInt8](repeating: UInt8(ascii: "a"), count: 200_000),
                        [UInt8](repeating: UInt8(ascii: "b"), count: 100_000)]
        try AtomicFile.replace(path, with: contents[0])
        let done = Lock()
        var finished = false
        var reads = 0
        var mixed: [String] = []
        let reader = try WorkerThread {
            while !done.withLock({ finished }) {
                guard let file = try? WholeFile.read(path: path) else { continue }
                let bytes = UnsafeBufferPointer(start: file.bytes, count: file.count)
                if !contents.contains(where: { $0.elementsEqual(bytes) }) { mixed.append("\(file.count) bytes") }
                file.release()
                reads += 1
            }
        }
        for round in 0..<100 { try AtomicFile.replace(path, with: contents[(round + 1) % 2]) }
        done.withLock { finished = true }
        reader.join()
        #expect(mixed.isEmpty, "\(mixed.count) of \(reads) reads saw a mix: \(mixed.prefix(3))")
        #expect(reads > 0)
        let last = try WholeFile.read(path: path)
        defer { last.release() }
        #expect(last.count == contents[0].count)
    }

    /// When the new content cannot be written, the file keeps the old one and the failure names the step.
    @Test func aFailedReplaceLeavesTheOldContent() throws {
        let folder = Folder()
        defer { folder.remove() }
        let path = FilePath(folder.file("state"))
        try AtomicFile.replace(path, with: Array("old\n".utf8))
        try #require(mkdir(folder.file("state.tmp"), 0o700) == 0)  // the temporary file cannot be made
        do throws(Failure) {
            try AtomicFile.replace(path, with: Array("new\n".utf8))
            Issue.record("replaced through a folder")
        } catch {
            #expect(error.kind == .system(Errno(EISDIR)))
            #expect(error.message.hasPrefix(folder.file("state.tmp") + ": "))
        }
        #expect(try String(contentsOfFile: folder.file("state"), encoding: .utf8) == "old\n")
    }
}

@Suite struct WholeFileTests {
    @Test func filesOverTheLimitAndFoldersAreRefusedByName() throws {
        let folder = Folder()
        defer { folder.remove() }
        let big = folder.file("big")
        try #require(FileManager.default.createFile(atPath: big, contents: nil))
        try #require(truncate(big, off_t(WholeFile.maxBytes + 1)) == 0)
        do throws(Failure) {
            _ = try WholeFile.read(path: FilePath(big))
            Issue.record("read a file over the limit")
        } catch {
            #expect(error.kind == .limit)
            #expect(error.message == big + ": larger than 16 MiB")
        }
        do throws(Failure) {
            _ = try WholeFile.read(path: FilePath(folder.path))
            Issue.record("read a folder")
        } catch {
            #expect(error.kind == .system(Errno(EISDIR)))
            #expect(error.message == folder.path + ": Is a directory")
        }
        let exact = folder.file("exact")
        try #require(FileManager.default.createFile(atPath: exact, contents: Data(repeating: 7, count: 40_000)))
        let file = try WholeFile.read(path: FilePath(exact))
        defer { file.release() }
        #expect(file.count == 40_000 && file.bytes[39_999] == 7)
    }
}
