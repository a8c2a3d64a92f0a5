import CShim
import Testing

@testable import EdgeCore

@Suite struct EdgeCoreErrorTests {
    @Test func everyErrorMapsToItsDocumentedCode() {
        #expect(EdgeCoreError.nullPointer.code == EDGECORE_E_NULL_POINTER)
        #expect(EdgeCoreError.invalidArgument.code == EDGECORE_E_INVALID_ARGUMENT)
        #expect(EdgeCoreError.invalidCapacity.code == EDGECORE_E_INVALID_CAPACITY)
        #expect(EdgeCoreError.invalidLaneCount.code == EDGECORE_E_INVALID_LANE_COUNT)
        #expect(EdgeCoreError.invalidLane.code == EDGECORE_E_INVALID_LANE)
        #expect(EdgeCoreError.invalidPolicy.code == EDGECORE_E_INVALID_POLICY)
        #expect(EdgeCoreError.timeout.code == EDGECORE_E_TIMEOUT)
        #expect(EdgeCoreError.outOfMemory.code == -ENOMEM)
    }

    @Test func libraryCodesHaveDescriptionsAndOthersDoNot() {
        for code in EDGECORE_E_LAST...EDGECORE_E_FIRST { #expect(resultCodeDescription(code) != nil) }
        #expect(resultCodeDescription(EDGECORE_OK) != nil)
        #expect(resultCodeDescription(EDGECORE_E_LAST - 1) == nil)
        #expect(resultCodeDescription(-ENOMEM) == nil)
        #expect(resultCodeDescription(7) == nil)
    }
}
