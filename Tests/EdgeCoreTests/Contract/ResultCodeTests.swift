import CShim
import Testing

@testable import EdgeCore

/// The one mapping from a failure's kind to edgecore.h's result codes.
@Suite struct ResultCodeTests {
    @Test func deviceFailuresAndSystemErrorsBecomeTheirCodes() {
        #expect(resultCode(.deviceTimeout) == EDGECORE_E_DEVICE_TIMEOUT)
        #expect(resultCode(.deviceFrame) == EDGECORE_E_DEVICE_FRAME)
        #expect(resultCode(.deviceException(0)) == EDGECORE_E_DEVICE_EXCEPTION)
        #expect(resultCode(.deviceException(11)) == EDGECORE_E_DEVICE_EXCEPTION)
        #expect(resultCode(.disconnected(nil)) == EDGECORE_E_DISCONNECTED)
        #expect(resultCode(.disconnected(Errno(ECONNRESET))) == EDGECORE_E_DISCONNECTED)
        #expect(resultCode(.system(Errno(ECONNREFUSED))) == -ECONNREFUSED)
        #expect(resultCode(.notRunning) == EDGECORE_E_NOT_RUNNING)
        #expect(resultCode(.timeout) == EDGECORE_E_TIMEOUT)
        #expect(resultCode(.nullPointer) == EDGECORE_E_NULL_POINTER)
        #expect(resultCode(.invalidArgument) == EDGECORE_E_INVALID_ARGUMENT)
        #expect(resultCode(.invalidCapacity) == EDGECORE_E_INVALID_CAPACITY)
        #expect(resultCode(.invalidLaneCount) == EDGECORE_E_INVALID_LANE_COUNT)
        #expect(resultCode(.invalidLane) == EDGECORE_E_INVALID_LANE)
        #expect(resultCode(.invalidPolicy) == EDGECORE_E_INVALID_POLICY)
        #expect(resultCode(Failure.outOfMemory.kind) == -ENOMEM)
    }

    @Test func libraryCodesHaveDescriptionsAndOthersDoNot() {
        for code in EDGECORE_E_LAST...EDGECORE_E_FIRST { #expect(resultCodeDescription(code) != nil) }
        #expect(resultCodeDescription(EDGECORE_OK) != nil)
        #expect(resultCodeDescription(EDGECORE_E_LAST - 1) == nil)
        #expect(resultCodeDescription(-ENOMEM) == nil)
        #expect(resultCodeDescription(7) == nil)
    }
}
