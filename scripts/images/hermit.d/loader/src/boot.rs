//! Multiboot v1 entry: the header QEMU looks for, the 32-bit code that enters long mode,
//! and the page tables that identity-map the first GiB.

use core::arch::{asm, global_asm};

const MULTIBOOT_MAGIC: u32 = 0x1bad_b002;
/// Page-align modules, provide a memory map, and load by the header's address fields
/// (the "a.out kludge"): the loader is a flat binary, not a 32-bit ELF.
const MULTIBOOT_FLAGS: u32 = (1 << 0) | (1 << 1) | (1 << 16);
const MULTIBOOT_CHECKSUM: u32 = 0u32.wrapping_sub(MULTIBOOT_MAGIC.wrapping_add(MULTIBOOT_FLAGS));

const BOOT_STACK_SIZE: usize = 0x10000;

/// One page-table level: 512 entries.
#[repr(C, align(4096))]
struct PageTable([u64; 512]);

// Filled by `start32`: PML4[0] -> PDPT[0] -> PD, whose entry 0 points to PT (4 KiB pages,
// 4 KiB..2 MiB) and whose entries 1..512 map 2 MiB..1 GiB with 2 MiB pages.
static mut PML4: PageTable = PageTable([0; 512]);
static mut PDPT: PageTable = PageTable([0; 512]);
static mut PD: PageTable = PageTable([0; 512]);
static mut PT: PageTable = PageTable([0; 512]);

global_asm!(
    r#"
    .pushsection .multiboot, "a"
    .balign 4
.Lmultiboot_header:
    .long {magic}
    .long {flags}
    .long {checksum}
    .long .Lmultiboot_header    // header_addr
    .long __loader_start        // load_addr
    .long __load_end            // load_end_addr
    .long __bss_end             // bss_end_addr
    .long start32               // entry_addr
    .popsection

    .pushsection .text.start32, "ax"
    .code32
    .global start32
start32:
    // Multiboot state: protected mode, paging off, eax = magic, ebx = info address.
    cli
    cld
    movl $.Lboot_stack_top, %esp
    movl %eax, %edi
    movl %ebx, %esi

    movl $({pdpt} + 3), {pml4}  // present | writable
    movl $({pd} + 3), {pdpt}
    movl $({pt} + 3), {pd}

    // PD[1..512]: 2 MiB pages (present | writable | huge).
    movl $1, %ecx
1:  movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax
    movl %eax, {pd}(,%ecx,8)
    incl %ecx
    cmpl $512, %ecx
    jb 1b

    // PT[1..512]: 4 KiB pages; page 0 stays unmapped to catch null pointers.
    movl $1, %ecx
2:  movl %ecx, %eax
    shll $12, %eax
    orl $3, %eax
    movl %eax, {pt}(,%ecx,8)
    incl %ecx
    cmpl $512, %ecx
    jb 2b

    movl %cr4, %eax
    orl $(1 << 5), %eax         // PAE
    movl %eax, %cr4
    movl ${pml4}, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx      // EFER
    rdmsr
    orl $((1 << 8) | (1 << 11)), %eax   // LME | NXE
    wrmsr
    movl %cr0, %eax
    orl $((1 << 31) | (1 << 0)), %eax   // PG | PE
    movl %eax, %cr0

    lgdt .Lgdt_pointer
    ljmp $0x08, $.Lstart64

    .code64
.Lstart64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    // The upper halves are undefined after the switch: zero-extend everything kept.
    movl $.Lboot_stack_top, %esp
    movl %edi, %edi
    movl %esi, %esi
    call {main}
    ud2
    .popsection

    .pushsection .rodata.gdt, "a"
    .balign 8
.Lgdt:
    .quad 0
    .quad 0x00af9a000000ffff    // 0x08: 64-bit code
    .quad 0x00cf92000000ffff    // 0x10: data
.Lgdt_pointer:
    .word .Lgdt_pointer - .Lgdt - 1
    .long .Lgdt
    .popsection

    .pushsection .bss.boot_stack, "aw", @nobits
    .balign 16
    .skip {stack_size}
.Lboot_stack_top:
    .popsection
    "#,
    magic = const MULTIBOOT_MAGIC,
    flags = const MULTIBOOT_FLAGS,
    checksum = const MULTIBOOT_CHECKSUM,
    stack_size = const BOOT_STACK_SIZE,
    pml4 = sym PML4,
    pdpt = sym PDPT,
    pd = sym PD,
    pt = sym PT,
    main = sym crate::loader_main,
    options(att_syntax),
);

/// Unmaps everything below 1 MiB. The kernel maps page 0, the EBDA and the BIOS area
/// itself and panics when they are mapped already.
pub fn unmap_low_memory() {
    // SAFETY: single-threaded, and nothing below 1 MiB is used from here on.
    unsafe {
        (*(&raw mut PT)).0[..256].fill(0);
        // Reloading CR3 flushes the TLB.
        asm!("mov {0}, cr3", "mov cr3, {0}", out(reg) _, options(nostack, preserves_flags));
    }
}
