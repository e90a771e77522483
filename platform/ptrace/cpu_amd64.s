#include "textflag.h"

// func cpuidRDPID() bool
// CPUID.(EAX=7,ECX=0):ECX bit 22 is RDPID.
TEXT ·cpuidRDPID(SB), NOSPLIT, $0-1
	MOVL $7, AX
	MOVL $0, CX
	CPUID
	SHRL $22, CX
	ANDL $1, CX
	MOVB CX, ret+0(FP)
	RET

// func rdpid() uint32
// RDPID RAX (F3 0F C7 F8): the TSC_AUX value Linux sets to node<<12 | cpu.
TEXT ·rdpid(SB), NOSPLIT, $0-4
	BYTE $0xf3; BYTE $0x0f; BYTE $0xc7; BYTE $0xf8
	MOVL AX, ret+0(FP)
	RET
