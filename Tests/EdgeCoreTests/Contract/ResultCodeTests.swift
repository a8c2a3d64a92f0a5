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
    }
}
