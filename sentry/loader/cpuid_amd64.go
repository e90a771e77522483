package loader

// cpuid executes the CPUID instruction.
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// hostHWCap returns AT_HWCAP as Linux computes it on x86: CPUID leaf 1 EDX.
func hostHWCap() uint64 {
	_, _, _, edx := cpuid(1, 0)
	return uint64(edx)
}
