import CShim

@c @implementation
public func edgecore_version_number() -> Int32 { EDGECORE_VERSION_NUMBER }

@c @implementation
public func edgecore_version_string() -> UnsafePointer<CChar>? { ec_version_string() }
