package arch

import "encoding/binary"

// FPState is a thread's extended floating-point state in the XSAVE layout
// (the first 512 bytes are the FXSAVE legacy area). The platform reads and
// writes it only when the kernel asks (signal delivery, sigreturn, fork,
// exec); between those it lives wherever the platform keeps it.
type FPState []byte

// FXSaveSize is the size of the legacy FXSAVE area.
const FXSaveSize = 512

// DefaultMXCSR is the MXCSR value of a fresh thread.
const DefaultMXCSR = 0x1f80

// DefaultFCW is the x87 control word of a fresh thread.
const DefaultFCW = 0x37f

// NewFPState returns the FP state of a freshly exec'd thread, size bytes long
// (at least FXSaveSize).
func NewFPState(size int) FPState {
	if size < FXSaveSize {
		size = FXSaveSize
	}
	s := make(FPState, size)
	binary.LittleEndian.PutUint16(s[0:], DefaultFCW)
	binary.LittleEndian.PutUint32(s[24:], DefaultMXCSR)
	s[28] = 0xff // MXCSR_MASK, low bits
	s[29] = 0xff
	return s
}
