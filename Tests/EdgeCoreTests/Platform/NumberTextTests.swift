import Foundation
import Testing

@testable import EdgeCore

/// decimalText replaces Swift's float printer in the library: it must give the text Swift's description
/// gives (the messages the tests check were written with it), whatever the locale's decimal point.
@Suite struct NumberTextTests {
    @Test func matchesSwiftDescription() {
        let fixed: [Double] = [0, -0.0, 1, -1, 5, 4, 0.1, 0.2, 0.3, -40.5, 1e-3, 1e-4, 9.99e-5, 1e-5, 12345.678,
                               1e15, 1e16, 9_007_199_254_740_991, 9_007_199_254_740_992, 1.5e20, 1e300,
                               .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, -.pi,
                               1.0 / 3, 2.0 / 3, 65535, 4_294_967_295, 0.000123456789, 100, 1e21, 1e22, 1e23]
        for value in fixed + [.infinity, -.infinity, .nan] {
            #expect(decimalText(value) == value.description, "\(value)")
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let value = Double(bitPattern: generator.next())
            #expect(decimalText(value) == value.description, "\(value.bitPattern)")
            let plain = Double.random(in: -1e6...1e6, using: &generator)
            #expect(decimalText(plain) == plain.description)
        }
    }

    @Test func ignoresTheLocaleDecimalPoint() {
        guard let saved = setlocale(LC_NUMERIC, nil).map({ String(cString: $0) }) else { return }
        guard setlocale(LC_NUMERIC, "de_DE.UTF-8") != nil || setlocale(LC_NUMERIC, "fr_FR.UTF-8") != nil else {
            return  // no locale with a decimal comma installed here
        }
        defer { setlocale(LC_NUMERIC, saved) }
        #expect(decimalText(-40.5) == "-40.5")
        #expect(decimalText(1.5e20) == "1.5e+20")
    }
}
