import CShim

/// 64 random bits from the kernel (getrandom), for ids that must differ between journals.
func randomUInt64() -> UInt64 { ec_random_u64() }
