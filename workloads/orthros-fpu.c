// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-fpu: values that live in x87, SSE and AVX registers for a long loop,
 * checked against an independent integer computation.
 *
 *   orthros-fpu [--no-avx] [--pace-us U] [common options]
 *
 * Each round is one inline-asm block that loads state into the registers and
 * runs 10000-30000 iterations without touching memory:
 *   x87   st0..st2 = a, b, c:   a += c; b += a           (fadd)
 *   SSE   xmm8..xmm14: x8 += x9, ..., x13 += x14 (paddq, 64-bit lanes),
 *         xmm15's halves swapped (pshufd)
 *   AVX   ymm0..ymm7, 4 doubles each: y0 += y1, y1 += y2, y3 += y4, y4 += y5,
 *         y7's 128-bit halves swapped (vperm2f128), y6 += y7 (vaddpd)
 *         without AVX (or --no-avx): the same on xmm0..xmm7, 2 doubles each
 *         (addpd, shufpd)
 * then stores them; the same values computed in closed form on 64-bit integers
 * (oracle()) must agree (the doubles stay integers below 2^53: exact).
 * MXCSR (round toward zero, flush to zero) and the x87 control word (round
 * toward zero) are set to non-default values and must keep them. A crash or a
 * freeze nearly always lands inside the asm block, with all of them live.
 * Busy by default (--pace-us 0): sleep U us between rounds.
 * --self-test-fault: one round adds 1 to a, to xmm8 and to y0 after its loop.
 */
#include "wlreport.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MXCSR 0xff80u		/* FTZ, round toward zero, exceptions masked */
#define FCW 0x0f7fu		/* round toward zero, extended precision, masked */

struct regs {
	int64_t x87[3];		/*   0: a, b, c */
	int64_t x87_fault;	/*  24 */
	uint64_t xmm[8][2];	/*  32: xmm8..xmm15 */
	uint64_t xmm_fault[2];	/* 160 */
	double fp[8][4];	/* 176: ymm0..ymm7 (SSE: lanes 0, 1 of xmm0..xmm7) */
	double fp_fault[4];	/* 432 */
	uint32_t mxcsr;		/* 464 */
	uint16_t fcw;		/* 468 */
} __attribute__((aligned(32)));

_Static_assert(offsetof(struct regs, x87_fault) == 24, "layout");
_Static_assert(offsetof(struct regs, xmm) == 32, "layout");
_Static_assert(offsetof(struct regs, xmm_fault) == 160, "layout");
_Static_assert(offsetof(struct regs, fp) == 176, "layout");
_Static_assert(offsetof(struct regs, fp_fault) == 432, "layout");
_Static_assert(offsetof(struct regs, mxcsr) == 464, "layout");
_Static_assert(offsetof(struct regs, fcw) == 468, "layout");

#define X87_LOAD "fildq 16(%[s])\n\tfildq 8(%[s])\n\tfildq 0(%[s])\n\t"
#define XMM_LOAD                                                                            \
	"movdqu 32(%[s]), %%xmm8\n\tmovdqu 48(%[s]), %%xmm9\n\tmovdqu 64(%[s]), %%xmm10\n\t" \
	"movdqu 80(%[s]), %%xmm11\n\tmovdqu 96(%[s]), %%xmm12\n\tmovdqu 112(%[s]), %%xmm13\n\t" \
	"movdqu 128(%[s]), %%xmm14\n\tmovdqu 144(%[s]), %%xmm15\n\t"
#define X87_STEP "fadd %%st(2), %%st\n\tfadd %%st, %%st(1)\n\t"
#define XMM_STEP                                                                              \
	"paddq %%xmm9, %%xmm8\n\tpaddq %%xmm10, %%xmm9\n\tpaddq %%xmm11, %%xmm10\n\t"         \
	"paddq %%xmm12, %%xmm11\n\tpaddq %%xmm13, %%xmm12\n\tpaddq %%xmm14, %%xmm13\n\t"       \
	"pshufd $0x4e, %%xmm15, %%xmm15\n\t"
#define X87_XMM_FAULT_STORE                                                                   \
	"paddq 160(%[s]), %%xmm8\n\t"                                                         \
	"fildq 24(%[s])\n\tfaddp %%st, %%st(1)\n\t"                                           \
	"fistpq 0(%[s])\n\tfistpq 8(%[s])\n\tfistpq 16(%[s])\n\t"                             \
	"movdqu %%xmm8, 32(%[s])\n\tmovdqu %%xmm9, 48(%[s])\n\tmovdqu %%xmm10, 64(%[s])\n\t"  \
	"movdqu %%xmm11, 80(%[s])\n\tmovdqu %%xmm12, 96(%[s])\n\tmovdqu %%xmm13, 112(%[s])\n\t" \
	"movdqu %%xmm14, 128(%[s])\n\tmovdqu %%xmm15, 144(%[s])\n\t"                          \
	"stmxcsr 464(%[s])\n\tfnstcw 468(%[s])\n\t"
#define CLOBBERS                                                                              \
	"memory", "cc", "st", "st(1)", "st(2)", "st(3)", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", \
	"xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

static void run_avx(struct regs *s, uint64_t n)
{
	__asm__ volatile(
		X87_LOAD XMM_LOAD
		"vmovupd 176(%[s]), %%ymm0\n\tvmovupd 208(%[s]), %%ymm1\n\tvmovupd 240(%[s]), %%ymm2\n\t"
		"vmovupd 272(%[s]), %%ymm3\n\tvmovupd 304(%[s]), %%ymm4\n\tvmovupd 336(%[s]), %%ymm5\n\t"
		"vmovupd 368(%[s]), %%ymm6\n\tvmovupd 400(%[s]), %%ymm7\n\t"
		"1:\n\t"
		X87_STEP XMM_STEP
		"vaddpd %%ymm1, %%ymm0, %%ymm0\n\tvaddpd %%ymm2, %%ymm1, %%ymm1\n\t"
		"vaddpd %%ymm4, %%ymm3, %%ymm3\n\tvaddpd %%ymm5, %%ymm4, %%ymm4\n\t"
		"vperm2f128 $1, %%ymm7, %%ymm7, %%ymm7\n\tvaddpd %%ymm7, %%ymm6, %%ymm6\n\t"
		"dec %[n]\n\tjnz 1b\n\t"
		"vaddpd 432(%[s]), %%ymm0, %%ymm0\n\t"
		X87_XMM_FAULT_STORE
		"vmovupd %%ymm0, 176(%[s])\n\tvmovupd %%ymm1, 208(%[s])\n\tvmovupd %%ymm2, 240(%[s])\n\t"
		"vmovupd %%ymm3, 272(%[s])\n\tvmovupd %%ymm4, 304(%[s])\n\tvmovupd %%ymm5, 336(%[s])\n\t"
		"vmovupd %%ymm6, 368(%[s])\n\tvmovupd %%ymm7, 400(%[s])\n\t"
		"vzeroupper\n\t"
		: [n] "+r"(n)
		: [s] "r"(s)
		: CLOBBERS);
}

static void run_sse(struct regs *s, uint64_t n)
{
	__asm__ volatile(
		X87_LOAD XMM_LOAD
		"movupd 176(%[s]), %%xmm0\n\tmovupd 208(%[s]), %%xmm1\n\tmovupd 240(%[s]), %%xmm2\n\t"
		"movupd 272(%[s]), %%xmm3\n\tmovupd 304(%[s]), %%xmm4\n\tmovupd 336(%[s]), %%xmm5\n\t"
		"movupd 368(%[s]), %%xmm6\n\tmovupd 400(%[s]), %%xmm7\n\t"
		"1:\n\t"
		X87_STEP XMM_STEP
		"addpd %%xmm1, %%xmm0\n\taddpd %%xmm2, %%xmm1\n\t"
		"addpd %%xmm4, %%xmm3\n\taddpd %%xmm5, %%xmm4\n\t"
		"shufpd $1, %%xmm7, %%xmm7\n\taddpd %%xmm7, %%xmm6\n\t"
		"dec %[n]\n\tjnz 1b\n\t"
		"addpd 432(%[s]), %%xmm0\n\t"
		X87_XMM_FAULT_STORE
		"movupd %%xmm0, 176(%[s])\n\tmovupd %%xmm1, 208(%[s])\n\tmovupd %%xmm2, 240(%[s])\n\t"
		"movupd %%xmm3, 272(%[s])\n\tmovupd %%xmm4, 304(%[s])\n\tmovupd %%xmm5, 336(%[s])\n\t"
		"movupd %%xmm6, 368(%[s])\n\tmovupd %%xmm7, 400(%[s])\n\t"
		: [n] "+r"(n)
		: [s] "r"(s)
		: CLOBBERS);
}


/* n choose j, modulo 2^64 (exact: n <= 2^20, j <= 6) */
static uint64_t choose(uint64_t n, int j)
{
	unsigned __int128 c = 1;

	for (int i = 1; i <= j; i++)
		c = c * (n - (uint64_t)i + 1) / (uint64_t)i;
	return (uint64_t)c;
}

/*
 * The same result on 64-bit integers, in closed form (so that the time goes
 * into the asm loop, where the registers are live):
 *   a(n) = a + n c, b(n) = b + n a + c n(n+1)/2
 *   x_i(n) = sum_j C(n, j) x_{i+j} (mod 2^64) for the chain xmm8 .. xmm14
 *   y0(n) = y0 + n y1 + C(n, 2) y2, y1(n) = y1 + n y2 (and y3, y4, y5)
 *   y6(n) = y6 + ceil(n/2) swap(y7) + floor(n/2) y7, y7(n) = swap^n(y7)
 */
static void oracle(int64_t x87[3], uint64_t xmm[8][2], int64_t fp[8][4], int lanes, uint64_t n)
{
	int64_t a = x87[0], c = x87[2], N = (int64_t)n, y7[4];
	uint64_t x[8][2];

	x87[0] = a + N * c;
	x87[1] += N * a + c * (N * (N + 1) / 2);
	memcpy(x, xmm, sizeof(x));
	for (int i = 0; i < 6; i++)
		for (int l = 0; l < 2; l++) {
			uint64_t v = 0;

			for (int j = 0; i + j < 7; j++)
				v += choose(n, j) * x[i + j][l];
			xmm[i][l] = v;
		}
	if (n & 1) {
		xmm[7][0] = x[7][1];
		xmm[7][1] = x[7][0];
	}
	for (int l = 0; l < lanes; l++)
		for (int g = 0; g < 6; g += 3) {
			fp[g][l] += N * fp[g + 1][l] + (N * (N - 1) / 2) * fp[g + 2][l];
			fp[g + 1][l] += N * fp[g + 2][l];
		}
	memcpy(y7, fp[7], sizeof(y7));
	for (int l = 0; l < lanes; l++) {
		int64_t sw = y7[(l + lanes / 2) % lanes];

		fp[6][l] += (N + 1) / 2 * sw + N / 2 * y7[l];
		if (n & 1)
			fp[7][l] = sw;
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: orthros-fpu [--no-avx] [--pace-us U] [common options]\n"
		   "  --no-avx               SSE doubles on xmm0-7 even if the CPU has AVX\n"
		   "  --pace-us U            sleep U us between rounds (default 0: busy)\n"
		   "%s", wl_usage());
}

int main(int argc, char **argv)
{
	static struct regs s;
	uint64_t pace_ns = 0, rnd = 0x5eed, reg_iters = 0;
	int avx, no_avx = 0, lanes;
	char extra[100];

	wl_init("orthros-fpu", "main");
	for (int i = 1; i < argc; i++) {
		int r = wl_option(argc, argv, &i);

		if (r > 0)
			continue;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--no-avx")) {
			no_avx = 1;
			continue;
		}
		if (r < 0 || i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(argv[i], "--pace-us"))
			pace_ns = (uint64_t)atol(argv[++i]) * 1000;
		else {
			usage(stderr);
			return 2;
		}
	}
	__builtin_cpu_init();
	/* libgcc's check includes the OS enabling YMM state (XCR0) */
	avx = !no_avx && __builtin_cpu_supports("avx");
	lanes = avx ? 4 : 2;
	{
		uint32_t mx = MXCSR;
		uint16_t cw = FCW;

		__asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(mx), "m"(cw));
	}
	while (wl_running()) {
		int64_t x87[3], fp[8][4];
		uint64_t xmm[8][2], n;
		int fault = wl_fault_due();

		rnd = wl_mix(rnd + 1);
		n = 10000 + rnd % 20001;
		for (int i = 0; i < 3; i++)
			x87[i] = (int64_t)(wl_mix(rnd ^ (uint64_t)i) % 65536);
		for (int i = 0; i < 8; i++)
			for (int l = 0; l < 2; l++)
				xmm[i][l] = wl_mix(rnd * 31 + (uint64_t)(i * 2 + l));
		for (int i = 0; i < 8; i++)
			for (int l = 0; l < 4; l++)
				fp[i][l] = (int64_t)(wl_mix(rnd * 17 + (uint64_t)(i * 4 + l)) % 2048) - 1024;
		memset(&s, 0, sizeof(s));
		memcpy(s.x87, x87, sizeof(x87));
		memcpy(s.xmm, xmm, sizeof(xmm));
		for (int i = 0; i < 8; i++)
			for (int l = 0; l < 4; l++)
				s.fp[i][l] = (double)fp[i][l];
		if (fault) {
			s.x87_fault = 1;
			s.xmm_fault[0] = 1;
			s.fp_fault[0] = 1;
		}
		if (avx)
			run_avx(&s, n);
		else
			run_sse(&s, n);
		oracle(x87, xmm, fp, lanes, n);
		for (int i = 0; i < 3; i++)
			if (s.x87[i] != x87[i])
				wl_error("x87 st(%d) after %llu iterations: %lld, not %lld", i,
					 (unsigned long long)n, (long long)s.x87[i], (long long)x87[i]);
		for (int i = 0; i < 8; i++)
			for (int l = 0; l < 2; l++)
				if (s.xmm[i][l] != xmm[i][l])
					wl_error("xmm%d[%d] after %llu iterations: %016llx, not %016llx", i + 8, l,
						 (unsigned long long)n, (unsigned long long)s.xmm[i][l],
						 (unsigned long long)xmm[i][l]);
		for (int i = 0; i < 8; i++)
			for (int l = 0; l < lanes; l++)
				if (s.fp[i][l] != (double)fp[i][l])
					wl_error("%s%d[%d] after %llu iterations: %.1f, not %lld", avx ? "ymm" : "xmm",
						 i, l, (unsigned long long)n, s.fp[i][l], (long long)fp[i][l]);
		if ((s.mxcsr & ~0x3fu) != MXCSR)
			wl_error("MXCSR is %08x, not %08x", s.mxcsr, MXCSR);
		if (s.fcw != FCW)
			wl_error("x87 control word is %04x, not %04x", s.fcw, FCW);
		reg_iters += n;
		snprintf(extra, sizeof(extra), "\"avx\":%d,\"reg_iters\":%llu", avx,
			 (unsigned long long)reg_iters);
		wl_extra(extra);
		wl_iter(1);
		wl_report();
		if (pace_ns)
			wl_sleep_ns(pace_ns);
	}
	return wl_finish();
}
