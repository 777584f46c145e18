//! The parts of the Multiboot v1 boot information the loader reads.

use core::ffi::CStr;
use core::ops::Range;
use core::{ptr, slice};

/// What a Multiboot boot loader leaves in `eax`.
const BOOTLOADER_MAGIC: u32 = 0x2bad_b002;

const FLAG_COMMAND_LINE: u32 = 1 << 2;
const FLAG_MODULES: u32 = 1 << 3;
const FLAG_MEMORY_MAP: u32 = 1 << 6;

/// Memory map entry type of RAM that is free to use.
const MEMORY_AVAILABLE: u32 = 1;

/// The start of the boot information structure, up to the memory map fields.
#[repr(C)]
struct Info {
    flags: u32,
    _memory_and_boot_device: [u32; 3],
    command_line: u32,
    modules_count: u32,
    modules_addr: u32,
    _symbols: [u32; 4],
    memory_map_length: u32,
    memory_map_addr: u32,
}

#[repr(C)]
struct Module {
    start: u32,
    end: u32,
    _string: u32,
    _reserved: u32,
}

/// One memory map entry; `size` counts the bytes after itself.
#[repr(C, packed)]
struct MemoryMapEntry {
    size: u32,
    base: u64,
    length: u64,
    kind: u32,
}

/// The boot information a Multiboot boot loader hands over.
pub struct BootInformation {
    info: &'static Info,
}

impl BootInformation {
    /// Checks the magic value and wraps the information at `addr`.
    ///
    /// # Safety
    /// `addr` must be the address the boot loader passed, with its memory still mapped and intact.
    pub unsafe fn new(magic: u32, addr: u32) -> Self {
        assert_eq!(
            magic, BOOTLOADER_MAGIC,
            "not started by a Multiboot boot loader"
        );
        Self {
            info: unsafe { &*ptr::with_exposed_provenance(addr as usize) },
        }
    }

    fn has(&self, flag: u32) -> bool {
        self.info.flags & flag != 0
    }

    /// The command line, if the boot loader passed one as UTF-8.
    pub fn command_line(&self) -> Option<&'static str> {
        if !self.has(FLAG_COMMAND_LINE) {
            return None;
        }
        let line = unsafe {
            CStr::from_ptr(ptr::with_exposed_provenance(
                self.info.command_line as usize,
            ))
        };
        line.to_str().ok()
    }

    /// The bytes of module `index`, if there is one.
    pub fn module(&self, index: usize) -> Option<&'static [u8]> {
        if !self.has(FLAG_MODULES) || index >= self.info.modules_count as usize {
            return None;
        }
        let modules: &[Module] = unsafe {
            slice::from_raw_parts(
                ptr::with_exposed_provenance(self.info.modules_addr as usize),
                self.info.modules_count as usize,
            )
        };
        let module = &modules[index];
        let len = (module.end - module.start) as usize;
        Some(unsafe {
            slice::from_raw_parts(ptr::with_exposed_provenance(module.start as usize), len)
        })
    }

    /// The RAM regions the memory map marks as available.
    pub fn available_memory(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        let (mut addr, end) = if self.has(FLAG_MEMORY_MAP) {
            let start = self.info.memory_map_addr as usize;
            (start, start + self.info.memory_map_length as usize)
        } else {
            (0, 0)
        };
        core::iter::from_fn(move || {
            while addr < end {
                let entry: MemoryMapEntry = unsafe {
                    ptr::with_exposed_provenance::<MemoryMapEntry>(addr).read_unaligned()
                };
                addr += entry.size as usize + size_of::<u32>();
                if entry.kind == MEMORY_AVAILABLE && entry.length > 0 {
                    return Some(entry.base..entry.base + entry.length);
                }
            }
            None
        })
    }
}
