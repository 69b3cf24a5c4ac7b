#include "textflag.h"

// func sumAVX2(p *byte, n int) uint64
//
// Each 64-bit lane of four accumulators adds the low and the high 32-bit
// word of the lane of the data; the words are below 2^32 and a buffer has
// far fewer than 2^32 of them, so no lane overflows and the total is exact.
TEXT ·sumAVX2(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	VPCMPEQD Y15, Y15, Y15
	VPSRLQ   $32, Y15, Y15 // 0x00000000ffffffff in every lane
	VPXOR    Y0, Y0, Y0
	VPXOR    Y1, Y1, Y1
	VPXOR    Y2, Y2, Y2
	VPXOR    Y3, Y3, Y3

loop:
	VMOVDQU (SI), Y4
	VMOVDQU 32(SI), Y5
	VPAND   Y15, Y4, Y6
	VPSRLQ  $32, Y4, Y4
	VPAND   Y15, Y5, Y7
	VPSRLQ  $32, Y5, Y5
	VPADDQ  Y6, Y0, Y0
	VPADDQ  Y4, Y1, Y1
	VPADDQ  Y7, Y2, Y2
	VPADDQ  Y5, Y3, Y3
	ADDQ    $64, SI
	SUBQ    $64, CX
	JNZ     loop

	VPADDQ       Y1, Y0, Y0
	VPADDQ       Y3, Y2, Y2
	VPADDQ       Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDQ       X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDQ       X1, X0, X0
	VMOVQ        X0, AX
	VZEROUPPER
	MOVQ         AX, ret+16(FP)
	RET
