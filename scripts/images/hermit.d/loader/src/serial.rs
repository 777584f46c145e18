//! Output on the first serial port (COM1): log messages and panics.

use core::arch::asm;
use core::fmt::{self, Write};

use log::{LevelFilter, Log, Metadata, Record};

/// I/O port of COM1; the kernel gets the same port through the boot info.
pub const COM1: u16 = 0x3f8;
const LINE_STATUS: u16 = COM1 + 5;
const TRANSMITTER_EMPTY: u8 = 1 << 5;

/// Writes to COM1, polling until the transmitter takes each byte.
pub struct Com1;

impl Write for Com1 {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            // SAFETY: COM1's registers have no memory side effects.
            unsafe {
                while inb(LINE_STATUS) & TRANSMITTER_EMPTY == 0 {
                    core::hint::spin_loop();
                }
                outb(COM1, byte);
            }
        }
        Ok(())
    }
}

unsafe fn inb(port: u16) -> u8 {
    let value;
    unsafe {
        asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack, preserves_flags))
    };
    value
}

unsafe fn outb(port: u16, value: u8) {
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}

/// Sends `log` records (the loader's and hermit-entry's) to COM1.
struct Logger;

impl Log for Logger {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let _ = writeln!(
            Com1,
            "[hermit-loader] {:<5} {}",
            record.level(),
            record.args()
        );
    }

    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

pub fn init_logger() {
    log::set_logger(&LOGGER).expect("the logger is set once");
    log::set_max_level(LevelFilter::Info);
}
