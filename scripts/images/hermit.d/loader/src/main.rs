//! hermit-loader: boots a Hermit application (kernel and application in one ELF) under QEMU.
//!
//! QEMU loads this flat binary with `-kernel` as a Multiboot v1 image and passes the
//! application as module 0 with `-initrd`. The loader enters long mode (`boot`), loads and
//! relocates the application above itself with `hermit-entry`, describes memory and the
//! command line in a device tree, and jumps to the kernel with Hermit's boot info.
//!
//! Everything the kernel still reads after the jump (device tree, boot info, its stack)
//! lives in the loader's `.bss`, below the kernel image: the kernel claims all RAM above
//! its own end.

#![no_std]
#![no_main]

mod boot;
mod fdt;
mod multiboot;
mod serial;

use core::arch::asm;
use core::fmt::Write;
use core::mem::MaybeUninit;
use core::num::NonZeroU64;
use core::panic::PanicInfo;
use core::slice;

use hermit_entry::boot_info::{
    BootInfo, DeviceTreeAddress, HardwareInfo, PlatformInfo, RawBootInfo, SerialPortBase,
};
use hermit_entry::elf::KernelObject;
use log::info;

use fdt::FdtWriter;
use multiboot::BootInformation;

/// The kernel's stack size: its `_start` moves `rsp` up by this much itself.
const KERNEL_STACK_SIZE: usize = 0x8000;
/// The application is loaded at a 2 MiB boundary.
const LOAD_ALIGN: u64 = 2 << 20;
/// `boot` identity-maps memory up to here.
const MAPPED_END: u64 = 1 << 30;

#[repr(C, align(4096))]
struct KernelStack([u8; KERNEL_STACK_SIZE]);

#[repr(C, align(8))]
struct DeviceTree([u8; 4096]);

static mut KERNEL_STACK: KernelStack = KernelStack([0; KERNEL_STACK_SIZE]);
static mut DEVICE_TREE: DeviceTree = DeviceTree([0; 4096]);
static mut BOOT_INFO: MaybeUninit<RawBootInfo> = MaybeUninit::uninit();

unsafe extern "C" {
    /// End of the loader's image, from `link.ld`.
    static __bss_end: u8;
}

/// Called by `boot` in long mode with the Multiboot magic value and info address.
extern "C" fn loader_main(magic: u32, info_addr: u32) -> ! {
    serial::init_logger();
    // SAFETY: these are the boot loader's values, and nothing has been overwritten yet.
    let multiboot = unsafe { BootInformation::new(magic, info_addr) };

    let elf = multiboot
        .module(0)
        .expect("no application image: pass it as Multiboot module 0 (QEMU -initrd)");
    let object = KernelObject::parse(elf).unwrap_or_else(|err| panic!("{err}"));

    let free_start = (&raw const __bss_end as u64).max(elf.as_ptr_range().end as u64);
    let start = object
        .start_addr()
        .unwrap_or_else(|| free_start.next_multiple_of(LOAD_ALIGN));
    let end = start + object.mem_size() as u64;
    assert!(
        start >= free_start,
        "the application wants {start:#x}, below the loader's end"
    );
    assert!(
        end <= MAPPED_END
            && multiboot
                .available_memory()
                .any(|ram| ram.start <= start && end <= ram.end),
        "the application ({start:#x}..{end:#x}) does not fit in RAM: give QEMU more memory (-m)"
    );
    // SAFETY: the range is free RAM, identity-mapped, above the loader and the module.
    let memory =
        unsafe { slice::from_raw_parts_mut(start as *mut MaybeUninit<u8>, object.mem_size()) };
    let loaded = object.load_kernel(memory, start);

    let device_tree = write_device_tree(&multiboot);
    let ram_end = multiboot
        .available_memory()
        .map(|ram| ram.end)
        .max()
        .unwrap();
    let boot_info = BootInfo {
        hardware_info: HardwareInfo {
            phys_addr_range: 0..ram_end,
            serial_port_base: SerialPortBase::new(serial::COM1),
            device_tree: DeviceTreeAddress::new(device_tree.as_ptr() as u64),
        },
        load_info: loaded.load_info,
        platform_info: PlatformInfo::Multiboot {
            // The kernel reads the command line from the device tree's /chosen instead.
            command_line: None,
            multiboot_info_addr: NonZeroU64::new(info_addr.into()).unwrap(),
        },
    };
    // SAFETY: single-threaded; written once, then only read by the kernel.
    let boot_info = unsafe { (*(&raw mut BOOT_INFO)).write(RawBootInfo::from(boot_info)) };

    boot::unmap_low_memory();
    info!("entering the kernel at {:#x}", loaded.entry_point);
    // SAFETY: the application is loaded and its boot info complete.
    unsafe { enter_kernel(loaded.entry_point, boot_info) }
}

/// Describes RAM (`/memory@ADDR` nodes) and the command line (`/chosen/bootargs`).
fn write_device_tree(multiboot: &BootInformation) -> &'static [u8] {
    // SAFETY: single-threaded, and the only reference ever made to the buffer.
    let buffer = unsafe { &mut (*(&raw mut DEVICE_TREE)).0 };
    let mut fdt = FdtWriter::new(buffer);
    fdt.begin_node(format_args!(""));
    fdt.property_u32("#address-cells", 2);
    fdt.property_u32("#size-cells", 2);
    fdt.property_str("compatible", "shrinkwrap,hermit-loader");
    for ram in multiboot.available_memory() {
        fdt.begin_node(format_args!("memory@{:x}", ram.start));
        fdt.property_str("device_type", "memory");
        fdt.property_reg(ram.start, ram.end - ram.start);
        fdt.end_node();
    }
    // The kernel's device tree parser requires /chosen, even without a command line.
    fdt.begin_node(format_args!("chosen"));
    if let Some(command_line) = multiboot.command_line() {
        fdt.property_str("bootargs", command_line);
    }
    fdt.end_node();
    fdt.end_node();
    fdt.finish()
}

/// Jumps to the kernel as CPU 0 with `rdi` = boot info and `rsp` at the *low* end of its
/// stack (the kernel's `_start` adds the stack size).
unsafe fn enter_kernel(entry: u64, boot_info: &'static RawBootInfo) -> ! {
    let stack = &raw mut KERNEL_STACK as u64;
    unsafe {
        asm!(
            "mov rsp, {stack}",
            "jmp {entry}",
            stack = in(reg) stack,
            entry = in(reg) entry,
            in("rdi") boot_info,
            in("rsi") 0u64,
            options(noreturn),
        )
    }
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let _ = writeln!(serial::Com1, "[hermit-loader] {info}");
    loop {
        // SAFETY: stops this CPU for good.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
