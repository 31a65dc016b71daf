/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Start-up code of a later Orthros OS.
 *
 * The loader copies this code to a 4 KiB page P below 1 MiB (the low slice
 * of the new OS's backup area) and fills the parameter block at its end.
 * An AP woken by INIT and STARTUP with vector P >> 12 starts here in real
 * mode at CS:IP = (P >> 4):0.  The code switches to 32-bit protected mode,
 * turns on PAE paging on the loader's identity page tables and long mode,
 * and enters the new kernel at its 64-bit entry point with %rsi holding the
 * boot_params, as the x86 64-bit boot protocol asks (GDT with __BOOT_CS
 * 0x10 and __BOOT_DS 0x18 flat segments, interrupts off).
 *
 * For the running kernel this is data: it is only copied, never executed
 * here, so it sits in .rodata.  Everything it needs to know about where it
 * runs it computes from %cs.
 */
#define CR0_PE		0x00000001
#define CR0_PG		0x80000000
#define CR4_PAE		0x00000020
#define MSR_EFER	0xc0000080
#define EFER_LME	0x00000100

#define OFF(x)		((x) - orthros_tramp_start)

	.section .rodata, "a"
	.balign 4096
	.globl orthros_tramp_start
orthros_tramp_start:
	.code16
	cli
	cld
	movw	%cs, %ax
	movw	%ax, %ds
	xorl	%ebx, %ebx
	movw	%ax, %bx
	shll	$4, %ebx			/* %ebx = P */

	/* Point the GDT descriptor and the two far pointers at P. */
	leal	OFF(tr_gdt)(%ebx), %eax
	movl	%eax, OFF(tr_gdt_desc) + 2
	leal	OFF(tr_pm32)(%ebx), %eax
	movl	%eax, OFF(tr_pm32_ptr)
	leal	OFF(tr_lm64)(%ebx), %eax
	movl	%eax, OFF(tr_lm64_ptr)

	lgdtl	OFF(tr_gdt_desc)
	movl	%cr0, %eax
	orl	$CR0_PE, %eax
	movl	%eax, %cr0
	ljmpl	*OFF(tr_pm32_ptr)

	.code32
tr_pm32:
	movl	$0x18, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs

	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	OFF(tr_cr3)(%ebx), %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$CR0_PG, %eax
	movl	%eax, %cr0
	ljmpl	*OFF(tr_lm64_ptr)(%ebx)

	.code64
tr_lm64:
	movl	%ebx, %ebx			/* upper half undefined after the switch */
	movl	$0x18, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movq	OFF(tr_stack)(%rbx), %rsp
	movq	OFF(tr_boot_params)(%rbx), %rsi
	movq	OFF(tr_entry)(%rbx), %rax
	xorl	%ebp, %ebp
	xorl	%edi, %edi
	jmp	*%rax

	.balign 8
tr_gdt:
	.quad	0
	.quad	0x00cf9a000000ffff		/* 0x08: 32-bit code, flat */
	.quad	0x00af9a000000ffff		/* 0x10: 64-bit code (__BOOT_CS) */
	.quad	0x00cf92000000ffff		/* 0x18: data, flat (__BOOT_DS) */
tr_gdt_end:
	.balign 8
tr_gdt_desc:
	.word	tr_gdt_end - tr_gdt - 1
	.long	0				/* P + OFF(tr_gdt) */
	.balign 8
tr_pm32_ptr:
	.long	0				/* P + OFF(tr_pm32) */
	.word	0x08
	.balign 8
tr_lm64_ptr:
	.long	0				/* P + OFF(tr_lm64) */
	.word	0x10

	/* struct orthros_tramp_params, filled by the loader */
	.balign 8
	.globl orthros_tramp_params
orthros_tramp_params:
tr_cr3:		.quad	0			/* identity page tables, below 4 GiB */
tr_entry:	.quad	0			/* the kernel's 64-bit entry */
tr_boot_params:	.quad	0
tr_stack:	.quad	0
	.globl orthros_tramp_end
orthros_tramp_end:
